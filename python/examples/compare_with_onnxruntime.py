import sys, numpy as np, onnxruntime, kiln

path = sys.argv[1] if len(sys.argv) > 1 else "model.onnx"
sess = kiln.Session(path)  # compiled for the GPU adapter present
x = np.random.default_rng(0).standard_normal(sess.get_inputs()[0].shape, dtype=np.float32)
feed = {sess.get_inputs()[0].name: x}
(ours,) = sess.run(None, feed)[:1]
(theirs,) = onnxruntime.InferenceSession(path).run(None, feed)[:1]
print(f"relative L2 {np.linalg.norm(ours - theirs) / np.linalg.norm(theirs):.2e} on {sess.adapter}")
assert np.allclose(ours, theirs, atol=1e-4, rtol=1e-3)
