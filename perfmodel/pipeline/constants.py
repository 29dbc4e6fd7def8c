"""Per-pixel work of the pre/post-processing stages and the message brokers, each with its source.

CPU stages are counted in core cycles (they run on one core per image: libjpeg-turbo, OpenCV and
PIL decode and resize an image single-threaded); GPU stages in operations and bytes, priced by the
operator roofline of perfmodel.ops.
"""

from __future__ import annotations

# --- JPEG -------------------------------------------------------------------------------------
# mozjpeg (the libjpeg-turbo decoder) decodes a 7680x4320 4:2:0 baseline JPEG in 84.644 ms on one
# core of an AMD Ryzen 5 4500U (etemesi254/zune-image zune-jpeg/Benches.md, "HV sampling (2V2)")
# [derived: 84.644e-3 s x 4.0e9 Hz (the part's boost clock, one busy core) / 33.18e6 px = 10.2 cycles].
# A smooth wallpaper image; photographic content decodes slower: libjpeg-turbo on a Cortex-A57 at
# 2.091 GHz takes 66.341 ms for a 3200x1800 photo (averne/oss-nvjpg README) = 24.1 cycles/px.
JPEG_DECODE_CYCLES_PER_PIXEL = 10.2
# The oss-nvjpg photo: 1.6 MiB for 3200x1800 [derived: 1.6 x 2^20 x 8 bit / 5.76e6 px = 2.33 bits/px].
JPEG_BITS_PER_PIXEL = 2.33
# GPU decode (nvJPEG through DALI's "mixed" decoder). DALI decoders.image docs: images of more than
# hybrid_huffman_threshold = 1,000,000 pixels (the default) use the GPU hybrid Huffman decoder, smaller
# ones Huffman-decode on the host; IDCT and colour conversion run on the GPU.
HYBRID_HUFFMAN_THRESHOLD_PX = 1_000_000
# [assumption: Huffman (entropy) decoding is half of a SIMD decoder's cycles: the IDCT, upsampling
# and colour conversion are vectorised, the bit-serial entropy decode is not; not measured]
HUFFMAN_FRACTION_OF_DECODE = 0.5
# GPU part, first principles: an 8x8 IDCT as two passes of 8-point 1-D transforms is 16 multiply-adds
# = 32 FLOP per sample; 4:2:0 chroma gives 1.5 samples per pixel (48 FLOP); YCbCr -> RGB a 3x3 matrix
# plus offsets (~12 FLOP). Huffman decoding on the GPU (large images) is counted as the same number of
# vector ops as its CPU cycles, spread over the batch: a lower bound on a bit-serial step.
JPEG_GPU_FLOP_PER_PIXEL = 60.0
# Host Huffman decoding hands the GPU its DCT coefficients (nvJPEG decoupled phases: DecodeJpegHost,
# TransferToDevice, DecodeJpegDevice): 4:2:0 is 1.5 samples per pixel, each an int16 coefficient.
DCT_COEFFICIENT_BYTES_PER_PIXEL = 3.0
NVJPEG_KERNELS_PER_BATCH = 4      # [assumption: Huffman, dequant+IDCT, colour convert, copy-out]

# --- resize / normalise on the CPU ------------------------------------------------------------
# Resize (Pillow's antialiased bilinear filter, which reads every source pixel): Pillow 3.3.0 resizes a
# 2560x1600 RGB image to 320x180 at 231.05 Mpx/s of source on one Xeon E5-2666 v3 core at 2.90 GHz
# (uploadcare Pillow-SIMD benchmark results, "AWS Server c4.large")
# [derived: 2.90e9 / 231.05e6 = 12.55 cycles per source pixel]; Pillow-SIMD AVX2 reaches 714.73 Mpx/s
# on the same core (4.06 cycles), a filter without antialiasing (OpenCV INTER_LINEAR) reads 4 source
# pixels per output pixel and costs far less for large sources.
RESIZE_CYCLES_PER_SOURCE_PIXEL = 12.55
# Normalise (uint8 HWC -> float CHW, mean/std) per output element: Manning "Quantization and Fast
# Inference" s12.2 (EfficientNet-Lite0 on an Apple M3, 224x224): 0.705 ms [derived: 0.705e-3 s x
# 4.05e9 Hz (M3 P-core max clock) / (224 x 224 x 3) = 19 cycles]. LOW CONFIDENCE: NumPy, not a fused
# SIMD loop.
NORMALIZE_CYCLES_PER_ELEMENT = 19.0
# GPU resize: a bilinear/area filter reads each source pixel once and does ~4 multiply-adds per
# output channel value [first principles]; GPU normalise: one multiply-add per element.
RESIZE_GPU_FLOP_PER_OUTPUT = 8.0
NORMALIZE_GPU_FLOP_PER_ELEMENT = 2.0

# --- post-processing (classification: softmax + top-5 over the logits) --------------------------
SOFTMAX_TOPK_CYCLES_PER_LOGIT = 10.0   # [assumption: exp + sum + partial sort, a few ns per logit]

# --- message brokers between two DNNs ------------------------------------------------------------
# Confluent "Benchmarking Apache Kafka, Apache Pulsar, and RabbitMQ" (2020): peak throughput
# Kafka 605 MB/s, RabbitMQ (mirrored) 38 MB/s; p99 end-to-end latency Kafka 5 ms at 200 MB/s,
# RabbitMQ 1 ms at a reduced 30 MB/s. Their p99 is used as the per-message hand-off latency
# (an upper estimate of the median).
BROKERS: dict[str, dict[str, float]] = {
    "kafka": {"latency_ms": 5.0, "throughput_mb_s": 605.0},
    "rabbitmq": {"latency_ms": 1.0, "throughput_mb_s": 38.0},
}
