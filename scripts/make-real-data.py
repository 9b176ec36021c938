#!/usr/bin/env python3
"""Write the real-weight model test data: for kiln's quantizer, two models PaddleOCR trained,
shipped inside the rapidocr-onnxruntime wheel; for the recurrent and control-flow ops, the
Silero voice-activity detector shipped inside the silero-vad wheel (both fetched here with
`pip download`, never committed); with seeded synthetic inputs and onnxruntime's f32
outputs.

Usage: python3 make-real-data.py OUT_DIR   (needs numpy, onnx, onnxruntime, onnxconverter-common
                                            and pip)

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
OUT_DIR/real/vad/   silero_vad.onnx (2.3 MB): Silero VAD, convolutions, 4 LSTMs and 25 Ifs that
                    choose the 16 kHz or the 8 kHz network on the int64 input sr. Inputs
                    input [1, 512] (16 kHz) or [1, 256] (8 kHz), state [2, 1, 128], sr [];
                    outputs the speech probability [1, 1] and the next state. Four sets:
                    test_data_set_<i>/{input,output}_<j>.pb, i = 0, 1 at 16 kHz and 2, 3 at
                    8 kHz, each pair a voiced chunk (harmonics of a 120-220 Hz pitch,
                    amplitude-modulated, with noise) from the zero state, then the next chunk
                    from the state the first one returned.
OUT_DIR/real/cls-f16/ the classifier converted to f16 by onnxconverter-common (weights and
                    activations f16, input and output kept f32: the form of a model exported
                    in half precision), on cls's 24 inputs; its outputs onnxruntime's on the
                    f16 model (the f32 model's are cls's).
The outputs are onnxruntime's at ORT_ENABLE_ALL (its default), the reference.
"""
import glob
import importlib.metadata
import os
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import onnx
import onnx.numpy_helper as nh
import onnxruntime as ort
from onnxconverter_common import float16

# The converter scripts/setup-test-data.sh installs (its version stamps this data).
CONVERTER = "1.16.0"
WHEEL = "rapidocr-onnxruntime==1.4.4"
VAD_WHEEL = "silero-vad==6.2.3"
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


def download(spec, tmp):
    """The wheel `spec` names, fetched from PyPI into `tmp`, opened."""
    folder = os.path.join(tmp, spec.split("==")[0])
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
         "--disable-pip-version-check", spec, "-d", folder],
        check=True,
    )
    return zipfile.ZipFile(glob.glob(os.path.join(folder, "*.whl"))[0])


def voiced(rng, samples, rate):
    """A voiced-sounding chunk: harmonics of a random pitch, amplitude-modulated, plus noise."""
    t = np.arange(samples) / rate
    pitch = rng.uniform(120, 220)
    signal = sum(rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * k * pitch * t + rng.uniform(0, 6))
                 for k in range(1, 9))
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(3, 6) * t)
    chunk = 0.3 * signal * envelope + rng.normal(0, 0.01, samples)
    return chunk[None].astype(np.float32)


def write_vad(wheel, out):
    folder = os.path.join(out, "real", "vad")
    os.makedirs(folder, exist_ok=True)
    model = wheel.read("silero_vad/data/silero_vad.onnx")
    with open(os.path.join(folder, "model.onnx"), "wb") as f:
        f.write(model)
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(11)
    case = 0
    for rate, samples in ((16000, 512), (8000, 256)):
        state = np.zeros((2, 1, 128), np.float32)
        for _ in range(2):
            inputs = {"input": voiced(rng, samples, rate), "state": state,
                      "sr": np.array(rate, np.int64)}
            outputs = sess.run(None, inputs)
            data = os.path.join(folder, f"test_data_set_{case}")
            os.makedirs(data, exist_ok=True)
            for kind, tensors in (("input", inputs.items()),
                                  ("output", zip(("output", "stateN"), outputs))):
                for j, (name, array) in enumerate(tensors):
                    with open(os.path.join(data, f"{kind}_{j}.pb"), "wb") as f:
                        f.write(nh.from_array(array, name).SerializeToString())
            state = outputs[1]
            case += 1


def write_model(out, case, model, shape, count):
    """`model` and its test sets: `count` text lines of `shape`, onnxruntime's outputs."""
    folder = os.path.join(out, "real", case)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "model.onnx"), "wb") as f:
        f.write(model)
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(7)
    for i in range(count):
        x = text_line(rng, *shape, turned=i % 2 == 1)
        (y,) = sess.run(None, {"x": x})
        data = os.path.join(folder, f"test_data_set_{i}")
        os.makedirs(data, exist_ok=True)
        for kind, name, array in (("input", "x", x), ("output", "y", y)):
            with open(os.path.join(data, f"{kind}_0.pb"), "wb") as f:
                f.write(nh.from_array(array, name).SerializeToString())


def main(out):
    have = importlib.metadata.version("onnxconverter-common")
    if have != CONVERTER:
        sys.exit(f"make-real-data: onnxconverter-common {CONVERTER} expected, found {have}")
    with tempfile.TemporaryDirectory() as tmp:
        write_vad(download(VAD_WHEEL, tmp), out)
        wheel = download(WHEEL, tmp)
        for case, (file, shape, count) in MODELS.items():
            model = wheel.read(f"rapidocr_onnxruntime/models/{file}")
            write_model(out, case, model, shape, count)
            if case == "cls":
                half = float16.convert_float_to_float16(onnx.load_from_string(model),
                                                        keep_io_types=True)
                write_model(out, "cls-f16", half.SerializeToString(), shape, count)


if __name__ == "__main__":
    main(sys.argv[1])
