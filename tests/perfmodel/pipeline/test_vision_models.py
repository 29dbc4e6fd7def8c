"""Vision DNN shapes against their published FLOPs and parameter counts."""

import pytest

from perfmodel.errors import PerfModelError
from perfmodel.pipeline import VISION_MODELS, get_vision_model


@pytest.mark.parametrize("name", sorted(VISION_MODELS))
def test_layers_match_the_published_macs_and_params(name):
    model = VISION_MODELS[name]
    # torchvision counts GFLOPS as multiply-adds; params include biases and BN, which the GEMMs omit (<0.5%)
    assert model.macs_per_image() / 1e9 == pytest.approx(model.published_gflops, rel=0.01)
    assert model.weight_elements() / 1e6 == pytest.approx(model.published_params_m, rel=0.01)


def test_resnet50_hand_checked_layers():
    layers = get_vision_model("resnet-50").layers()
    stem, fc = layers[0], layers[-1]
    assert (stem.m_per_image, stem.n, stem.k) == (112 * 112, 64, 147)      # 7x7/2 conv over 3 channels
    assert (fc.m_per_image, fc.n, fc.k) == (1, 1000, 2048)
    assert sum(1 for layer in layers if "shortcut" in layer.name) == 4        # one projection per stage
    assert len(layers) == 1 + 16 * 3 + 4 + 1                                  # stem, 16 blocks x 3 convs, fc


def test_unknown_model_names_the_known_ones():
    with pytest.raises(PerfModelError, match="unknown vision model 'resnet-5'.*resnet-50"):
        get_vision_model("resnet-5")
