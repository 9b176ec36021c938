"""kiln: compile ONNX models to GPU compute kernels (WGSL, run through wgpu) and run
them on numpy arrays.

The API follows onnxruntime's ``InferenceSession`` so that switching a script is a
one-line change::

    import kiln
    sess = kiln.Session("model.onnx")          # compiled for the GPU adapter present
    name = sess.get_inputs()[0].name
    (y,) = sess.run(None, {name: x})            # numpy in, numpy out

Compiling ahead of time::

    bundle = kiln.compile("model.onnx", opt=2, shapes={"x": [1, 3, 224, 224]})
    bundle.save("model.kiln")
    print(bundle.report["text"])                # what the optimizer did
    sess = kiln.Session(kiln.load("model.kiln"))

Errors are ``kiln.KilnError`` subclasses (``BadModelError``, ``UnsupportedOpError``,
``BadInputError``, ``DeviceError``, ``OptionError``) whose message is the one line the
``kiln`` CLI prints after ``error:``. Compiling and running release the GIL.
"""

from ._native import (
    BadInputError,
    BadModelError,
    Bundle,
    DeviceError,
    KilnError,
    NodeArg,
    OptionError,
    Session,
    UnsupportedOpError,
    __version__,
    adapters,
    bench,
    compile,
    dump,
    load,
)

#: onnxruntime's name for a session, so that ``import kiln as ort`` scripts run.
InferenceSession = Session

__all__ = [
    "BadInputError",
    "BadModelError",
    "Bundle",
    "DeviceError",
    "InferenceSession",
    "KilnError",
    "NodeArg",
    "OptionError",
    "Session",
    "UnsupportedOpError",
    "__version__",
    "adapters",
    "bench",
    "compile",
    "dump",
    "load",
]
