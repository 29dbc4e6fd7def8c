"""Shape walks: each network as a list of layers (GEMM-shaped linears and convolutions,
attentions, pointwise passes), device-free. Pricing lives in _cost.py.

A k x k convolution is priced as its implicit GEMM (cuDNN / CUTLASS implicit-GEMM convolution):
M = output pixels x batch, N = output channels, K = input channels x k x k."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from perfmodel.diffusion._spec import DiTSpec, TextEncoderSpec, UNetSpec, VAESpec

Phase = Literal["text", "down", "mid", "up", "dit", "vae", "controlnet"]
GROUPNORM_PASSES = 2.0  # GroupNorm + SiLU: read and write once each (fused in diffusers' kernels: our assumption)


@dataclass(frozen=True, slots=True)
class Layer:
    name: str
    phase: str
    kind: Literal["linear", "attn", "pointwise"]
    m: int = 0            # linear/conv: rows (tokens or pixels x batch)
    n: int = 0            # linear/conv: output features
    k: int = 0            # linear/conv: input features (x kernel area)
    batch: int = 0        # attn: sequences
    q_tokens: int = 0     # attn: queries per sequence
    kv_tokens: int = 0    # attn: keys per sequence
    heads: int = 0
    head_dim: int = 0
    elements: float = 0.0  # pointwise: activation elements touched
    lora: bool = False    # a LoRA target (attention projections: diffusers LoRA target_modules)

    @property
    def flops(self) -> float:
        if self.kind == "linear":
            return 2.0 * self.m * self.n * self.k
        if self.kind == "attn":  # Q K^T and P V, no causal mask
            return 4.0 * self.batch * self.q_tokens * self.kv_tokens * self.heads * self.head_dim
        return 0.0

    @property
    def params(self) -> int:
        return self.n * self.k if self.kind == "linear" else 0


def _linear(name, phase, m, n, k, *, lora=False) -> Layer:
    return Layer(name, phase, "linear", m=m, n=n, k=k, lora=lora)


def _conv(name, phase, pixels, cin, cout, kernel=3) -> Layer:
    return Layer(name, phase, "linear", m=pixels, n=cout, k=cin * kernel * kernel)


def _attn(name, phase, batch, q, kv, heads, head_dim) -> Layer:
    return Layer(name, phase, "attn", batch=batch, q_tokens=q, kv_tokens=kv, heads=heads, head_dim=head_dim)


def _pointwise(name, phase, elements, passes=GROUPNORM_PASSES) -> Layer:
    return Layer(name, phase, "pointwise", elements=elements * passes / 2)


def _resnet(phase, b, hw, cin, cout, temb=None) -> list[Layer]:
    """diffusers ResnetBlock2D: norm+SiLU, conv3x3, time projection, norm+SiLU, conv3x3, 1x1 shortcut."""
    px = b * hw
    out = [_pointwise("resnet.norm1", phase, px * cin), _conv("resnet.conv1", phase, px, cin, cout)]
    if temb:
        out.append(_linear("resnet.time_emb", phase, b, cout, temb))
    out += [_pointwise("resnet.norm2", phase, px * cout), _conv("resnet.conv2", phase, px, cout, cout)]
    if cin != cout:
        out.append(_conv("resnet.shortcut", phase, px, cin, cout, kernel=1))
    return out


def _transformer(phase, b, hw, c, heads, depth, ctx_tokens, ctx_dim) -> list[Layer]:
    """diffusers Transformer2DModel: proj_in, `depth` BasicTransformerBlocks (self-attention,
    cross-attention to the text, GEGLU feed-forward 4x), proj_out."""
    t = b * hw
    hd = c // heads
    out = [_pointwise("xf.norm", phase, t * c), _linear("xf.proj_in", phase, t, c, c)]
    for _ in range(depth):
        out += [_pointwise("xf.ln1", phase, t * c),
                _linear("attn1.qkv", phase, t, 3 * c, c, lora=True),
                _attn("attn1.self", phase, b, hw, hw, heads, hd),
                _linear("attn1.out", phase, t, c, c, lora=True),
                _pointwise("xf.ln2", phase, t * c),
                _linear("attn2.q", phase, t, c, c, lora=True),
                _linear("attn2.kv", phase, b * ctx_tokens, 2 * c, ctx_dim, lora=True),
                _attn("attn2.cross", phase, b, hw, ctx_tokens, heads, hd),
                _linear("attn2.out", phase, t, c, c, lora=True),
                _pointwise("xf.ln3", phase, t * c),
                _linear("ff.geglu", phase, t, 8 * c, c),
                _linear("ff.out", phase, t, c, 4 * c)]
    out.append(_linear("xf.proj_out", phase, t, c, c))
    return out


def unet_layers(u: UNetSpec, *, batch: int, latent_h: int, latent_w: int, ctx_tokens: int,
                encoder_only: bool = False) -> list[Layer]:
    """UNet2DConditionModel forward for `batch` latents (the CFG pair counts twice). Skip
    connections are followed as the forward pass pushes and pops them, so up-block input channels
    are exact. `encoder_only`: conv_in, down and mid blocks (what a ControlNet copies)."""
    b, temb = batch, u.time_embed_dim
    h, w = latent_h, latent_w
    c0 = u.block_out_channels[0]
    out = [_conv("conv_in", "down", b * h * w, u.in_channels, c0)]
    skips = [(c0, h * w)]  # (channels, pixels) of each tensor the down path keeps
    cin = c0
    nblocks = len(u.block_out_channels)
    for i, cout in enumerate(u.block_out_channels):
        for _ in range(u.layers_per_block):
            out += _resnet("down", b, h * w, cin, cout, temb)
            if u.cross_attn_blocks[i]:
                out += _transformer("down", b, h * w, cout, u.heads[i], u.transformer_layers[i], ctx_tokens,
                                    u.cross_attention_dim)
            cin = cout
            skips.append((cout, h * w))
        if i < nblocks - 1:  # Downsample2D: stride-2 conv3x3
            h, w = (h + 1) // 2, (w + 1) // 2
            out.append(_conv("downsample", "down", b * h * w, cout, cout))
            skips.append((cout, h * w))
    cmid = u.block_out_channels[-1]
    out += _resnet("mid", b, h * w, cmid, cmid, temb)
    out += _transformer("mid", b, h * w, cmid, u.heads[-1], u.transformer_layers[-1], ctx_tokens,
                        u.cross_attention_dim)
    out += _resnet("mid", b, h * w, cmid, cmid, temb)
    if encoder_only:
        # ControlNet zero convolutions: one 1x1 conv per skip tensor and one after the mid block
        zero = [_conv("zero_conv", "down", b * px, c, c, kernel=1) for c, px in [*skips, (cmid, h * w)]]
        return out + zero
    cin = cmid
    for j, cout in enumerate(reversed(u.block_out_channels)):
        i = nblocks - 1 - j
        for _ in range(u.layers_per_block + 1):
            skip, _ = skips.pop()
            out += _resnet("up", b, h * w, cin + skip, cout, temb)
            if u.cross_attn_blocks[i]:
                out += _transformer("up", b, h * w, cout, u.heads[i], u.transformer_layers[i], ctx_tokens,
                                    u.cross_attention_dim)
            cin = cout
        if j < nblocks - 1:  # Upsample2D: nearest x2 then conv3x3
            h, w = h * 2, w * 2
            out.append(_conv("upsample", "up", b * h * w, cout, cout))
    out += [_pointwise("norm_out", "up", b * h * w * cin), _conv("conv_out", "up", b * h * w, cin, u.in_channels)]
    return out


def controlnet_layers(u: UNetSpec, *, batch: int, latent_h: int, latent_w: int, ctx_tokens: int) -> list[Layer]:
    """A ControlNet (Zhang et al. 2023, s3.2): a trainable copy of the UNet's encoder and mid block
    plus 1x1 zero convolutions on each residual it returns. The conditioning-image embedding (a
    few small convs, run once per request) is left out."""
    layers = unet_layers(u, batch=batch, latent_h=latent_h, latent_w=latent_w, ctx_tokens=ctx_tokens,
                         encoder_only=True)
    return [Layer(x.name, "controlnet", x.kind, x.m, x.n, x.k, x.batch, x.q_tokens, x.kv_tokens, x.heads, x.head_dim,
                  x.elements, x.lora) for x in layers]


def residual_elements(u: UNetSpec, *, batch: int, latent_h: int, latent_w: int) -> float:
    """Elements of the residuals a ControlNet hands the UNet per step: one per down-path skip
    tensor plus the mid-block output (what a remote ControlNet sends back)."""
    h, w = latent_h, latent_w
    total = u.block_out_channels[0] * h * w
    for i, c in enumerate(u.block_out_channels):
        total += u.layers_per_block * c * h * w
        if i < len(u.block_out_channels) - 1:
            h, w = (h + 1) // 2, (w + 1) // 2
            total += c * h * w
    total += u.block_out_channels[-1] * h * w
    return batch * total


def dit_layers(d: DiTSpec, *, batch: int, latent_h: int, latent_w: int) -> list[Layer]:
    """MMDiT forward: patch and context embedding, joint blocks (per stream: adaLN modulation
    6C, QKV, output projection, MLP; one attention over image + text tokens), single blocks (FLUX:
    fused QKV + MLP-in, attention, fused output over C + MLP), final projection."""
    b, c = batch, d.hidden
    img = (latent_h // d.patch) * (latent_w // d.patch)
    txt = d.text_tokens
    mlp = int(d.mlp_ratio * c)
    tok_in = d.latent_channels * d.patch * d.patch
    out = [_linear("x_embedder", "dit", b * img, c, tok_in), _linear("context_embedder", "dit", b * txt, c, d.context_dim)]
    for _ in range(d.joint_layers):
        for stream, tokens in (("img", img), ("txt", txt)):
            t = b * tokens
            out += [_linear(f"{stream}.adaln", "dit", b, 6 * c, c), _pointwise(f"{stream}.norm1", "dit", t * c),
                    _linear(f"{stream}.qkv", "dit", t, 3 * c, c, lora=True),
                    _linear(f"{stream}.attn_out", "dit", t, c, c, lora=True),
                    _pointwise(f"{stream}.norm2", "dit", t * c),
                    _linear(f"{stream}.mlp_in", "dit", t, mlp, c), _linear(f"{stream}.mlp_out", "dit", t, c, mlp)]
        out.append(_attn("joint.attn", "dit", b, img + txt, img + txt, d.heads, d.head_dim))
    for _ in range(d.single_layers):
        t = b * (img + txt)
        out += [_linear("single.adaln", "dit", b, 3 * c, c), _pointwise("single.norm", "dit", t * c),
                _linear("single.qkv_mlp", "dit", t, 3 * c + mlp, c, lora=True),
                _attn("single.attn", "dit", b, img + txt, img + txt, d.heads, d.head_dim),
                _linear("single.out", "dit", t, c, c + mlp, lora=True)]
    out += [_linear("norm_out.adaln", "dit", b, 2 * c, c), _linear("proj_out", "dit", b * img, tok_in, c)]
    return out


def text_encoder_layers(e: TextEncoderSpec, *, batch: int) -> list[Layer]:
    """A pre-norm transformer encoder over `e.tokens` tokens (CLIP text model, T5 encoder)."""
    t, c = batch * e.tokens, e.hidden
    ffn_in = 2 * e.ffn if e.gated else e.ffn
    out = []
    for _ in range(e.layers):
        out += [_pointwise(f"{e.name}.ln1", "text", t * c), _linear(f"{e.name}.qkv", "text", t, 3 * c, c),
                _attn(f"{e.name}.attn", "text", batch, e.tokens, e.tokens, e.heads, c // e.heads),
                _linear(f"{e.name}.attn_out", "text", t, c, c), _pointwise(f"{e.name}.ln2", "text", t * c),
                _linear(f"{e.name}.ffn_in", "text", t, ffn_in, c), _linear(f"{e.name}.ffn_out", "text", t, c, e.ffn)]
    return out


def vae_decoder_layers(v: VAESpec, *, batch: int, latent_h: int, latent_w: int) -> list[Layer]:
    """AutoencoderKL decoder: conv_in, mid block (resnet, one-head attention, resnet), up blocks
    of layers_per_block + 1 resnets with x2 upsampling convs, conv_out to RGB."""
    b, h, w = batch, latent_h, latent_w
    top = v.block_out_channels[-1]
    out = [_conv("vae.conv_in", "vae", b * h * w, v.latent_channels, top)]
    out += _resnet("vae", b, h * w, top, top)
    out += [_pointwise("vae.attn_norm", "vae", b * h * w * top), _linear("vae.attn_qkv", "vae", b * h * w, 3 * top, top),
            _attn("vae.attn", "vae", b, h * w, h * w, 1, top), _linear("vae.attn_out", "vae", b * h * w, top, top)]
    out += _resnet("vae", b, h * w, top, top)
    cin = top
    chans = list(reversed(v.block_out_channels))
    for j, cout in enumerate(chans):
        for _ in range(v.layers_per_block + 1):
            out += _resnet("vae", b, h * w, cin, cout)
            cin = cout
        if j < len(chans) - 1:
            h, w = h * 2, w * 2
            out.append(_conv("vae.upsample", "vae", b * h * w, cout, cout))
    out += [_pointwise("vae.norm_out", "vae", b * h * w * cin), _conv("vae.conv_out", "vae", b * h * w, cin, 3)]
    return out
