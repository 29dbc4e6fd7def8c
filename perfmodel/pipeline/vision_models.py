"""Vision DNNs as data: each preset is its architecture's few numbers (a gpt-fast style table), the
GEMM shapes follow from them, and the published FLOPs and parameter counts are kept next to them
so a test checks the shapes against the source.

A convolution runs as an implicit GEMM (cuDNN / TensorRT): M = output pixels x batch,
N = output channels, K = input channels x kernel area; it reads its input map once (the kernel taps
hit the on-chip tile), not the M x K unrolled matrix. Attention's two matmuls run as grouped
GEMMs, one group per (image, head). Norms, activations and residual adds are fused into the GEMM
epilogues by TensorRT and cost no separate pass here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from perfmodel.errors import UnknownNameError


@dataclass(frozen=True)
class Layer:
    name: str
    m_per_image: int     # GEMM rows per image (output pixels, or tokens)
    n: int               # output channels / features
    k: int               # reduction: in channels x kernel area, or features
    groups_per_image: int = 1   # independent GEMMs per image (attention heads)
    weights: bool = True        # False: both operands are activations (attention matmuls)
    input_per_image: int = 0    # activation elements read per image when fewer than m x k (a KxK conv
                                # reads its input map once, not once per kernel tap); 0: m x k


@dataclass(frozen=True)
class VisionModel:
    id: str
    family: Literal["resnet", "vit"]
    input_px: int                    # square input side the DNN takes, pixels
    outputs: int                     # output elements per image (class logits)
    published_gflops: float          # multiply-accumulates x 1e-9 per image, as the source counts them
    published_params_m: float
    source: str
    blocks: tuple[int, ...] = ()     # resnet: bottleneck blocks per stage
    depth: int = 0                   # vit: encoder layers
    dim: int = 0                     # vit: hidden size
    heads: int = 0
    mlp_dim: int = 0
    patch: int = 0

    def layers(self) -> list[Layer]:
        return _resnet_layers(self) if self.family == "resnet" else _vit_layers(self)

    def weight_elements(self) -> int:
        return sum(layer.n * layer.k * layer.groups_per_image for layer in self.layers() if layer.weights)

    def macs_per_image(self) -> int:
        return sum(layer.m_per_image * layer.n * layer.k * layer.groups_per_image for layer in self.layers())


def _resnet_layers(model: VisionModel) -> list[Layer]:
    """ResNet-50/101/152 (He et al., CVPR 2016, Table 1): a 7x7/2 stem, 3x3/2 max-pool, then four
    stages of bottleneck blocks (1x1 reduce, 3x3, 1x1 expand x4); the first block of stages 2-4
    strides by 2 in its 3x3 (torchvision v1.5) and projects the shortcut with a 1x1 conv."""
    side = model.input_px // 2
    layers = [Layer("stem 7x7", side * side, 64, 3 * 49, input_per_image=3 * model.input_px ** 2)]
    side //= 2                                                    # max-pool 3x3/2
    channels = 64
    for stage, (count, width) in enumerate(zip(model.blocks, (64, 128, 256, 512))):
        for block in range(count):
            stride = 2 if stage > 0 and block == 0 else 1
            out_side = side // stride
            tag = f"s{stage + 2}b{block + 1}"
            layers += [Layer(f"{tag} 1x1 reduce", side * side, width, channels),
                       Layer(f"{tag} 3x3", out_side * out_side, width, width * 9, input_per_image=width * side * side),
                       Layer(f"{tag} 1x1 expand", out_side * out_side, width * 4, width)]
            if block == 0:
                layers.append(Layer(f"{tag} shortcut", out_side * out_side, width * 4, channels))
            channels, side = width * 4, out_side
    layers.append(Layer("fc", 1, model.outputs, channels))      # after global average pooling
    return layers


def _vit_layers(model: VisionModel) -> list[Layer]:
    """ViT (Dosovitskiy et al., ICLR 2021): a patch-embedding GEMM, `depth` pre-norm encoder layers
    (QKV, scores, weighted sum, projection, two MLP GEMMs) over patches + the class token, a head."""
    patches = (model.input_px // model.patch) ** 2
    tokens = patches + 1
    head_dim = model.dim // model.heads
    layers = [Layer("patch embed", patches, model.dim, 3 * model.patch ** 2)]
    for i in range(model.depth):
        layers += [Layer(f"l{i} qkv", tokens, 3 * model.dim, model.dim),
                   Layer(f"l{i} scores", tokens, tokens, head_dim, model.heads, weights=False),
                   Layer(f"l{i} context", tokens, head_dim, tokens, model.heads, weights=False),
                   Layer(f"l{i} proj", tokens, model.dim, model.dim),
                   Layer(f"l{i} mlp up", tokens, model.mlp_dim, model.dim),
                   Layer(f"l{i} mlp down", tokens, model.dim, model.mlp_dim)]
    layers.append(Layer("head", 1, model.outputs, model.dim))
    return layers


TORCHVISION = "torchvision models table (GFLOPS = multiply-adds, params)"
VISION_MODELS: dict[str, VisionModel] = {m.id: m for m in (
    VisionModel(id="resnet-50", family="resnet", input_px=224, outputs=1000, blocks=(3, 4, 6, 3),
                published_gflops=4.09, published_params_m=25.557,
                source=f"{TORCHVISION}: ResNet50_Weights.IMAGENET1K_V1 4.09 GFLOPS, 25.6M params; "
                       "He et al. 2016 Table 1: 3.8e9 FLOPs (multiply-adds, stride in the 1x1)"),
    VisionModel(id="resnet-101", family="resnet", input_px=224, outputs=1000, blocks=(3, 4, 23, 3),
                published_gflops=7.80, published_params_m=44.549,
                source=f"{TORCHVISION}: ResNet101_Weights.IMAGENET1K_V1 7.80 GFLOPS, 44.5M params"),
    VisionModel(id="vit-b-16", family="vit", input_px=224, outputs=1000, depth=12, dim=768, heads=12,
                mlp_dim=3072, patch=16, published_gflops=17.56, published_params_m=86.567,
                source=f"{TORCHVISION}: ViT_B_16_Weights.IMAGENET1K_V1 17.56 GFLOPS, 86.6M params"),
)}


def get_vision_model(name: str) -> VisionModel:
    if name not in VISION_MODELS:
        raise UnknownNameError("vision model", name, sorted(VISION_MODELS))
    return VISION_MODELS[name]
