"""A script as an onnxruntime user writes one: classify an image batch, print the top
classes. Run as is it uses onnxruntime; `--kiln` swaps the import line, the only change
kiln needs (`import kiln as ort`). It saves its outputs to compare the two."""

import sys

import numpy as np

if "--kiln" in sys.argv:
    import kiln as ort
else:
    import onnxruntime as ort

model, out = sys.argv[1], sys.argv[2]

sess = ort.InferenceSession(model)
input_meta = sess.get_inputs()[0]
output_names = [o.name for o in sess.get_outputs()]
print(f"input {input_meta.name} {input_meta.type} {input_meta.shape}")

rng = np.random.default_rng(42)
image = rng.random(input_meta.shape, dtype=np.float32)
outputs = sess.run(output_names, {input_meta.name: image})
logits = outputs[-1].reshape(len(image), -1)
top = np.argsort(-logits, axis=1)[:, :5]
for row, classes in enumerate(top):
    print(f"image {row}: top-5 classes {classes.tolist()}")
np.savez(out, *outputs)
