"""Type stubs of the kiln package (the `kiln._native` extension module re-exported)."""

import os
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

__version__: str

PathLike = Union[str, "os.PathLike[str]"]
#: A model: a path to an .onnx file or a .kiln bundle, the bytes of either, an
#: onnx.ModelProto, or a Bundle.
Model = Union[PathLike, bytes, "Bundle", Any]

class KilnError(Exception):
    """Any failure of kiln; the message is the one line the CLI prints after `error: `."""

class BadModelError(KilnError):
    """The model or bundle cannot be read, decoded or imported (corrupt, malformed)."""

class UnsupportedOpError(KilnError):
    """The model uses an op, opset, attribute or dtype kiln cannot compile."""

class BadInputError(KilnError):
    """An input is missing, unknown, of the wrong dtype or shape, or out of range."""

class DeviceError(KilnError):
    """No (matching) GPU adapter, one lacking what the bundle needs, or a device error."""

class OptionError(KilnError):
    """A bad option; the message names the CLI flag (`--opt 3: ...`)."""

class NodeArg:
    """A model input or output, as onnxruntime's NodeArg describes one."""

    @property
    def name(self) -> str: ...
    @property
    def shape(self) -> List[int]:
        """Static dims (kiln compiles for one shape; bind symbolic dims with `shapes`)."""
    @property
    def type(self) -> str:
        """onnxruntime's type string: `tensor(float)`, `tensor(int64)`, ..."""
    @property
    def dtype(self) -> Optional[str]:
        """The numpy dtype arrays for it have, or None where numpy has none."""

class Bundle:
    """A compiled kernel bundle (.kiln): kernels, buffers, weights, options."""

    def save(self, path: PathLike) -> None:
        """Writes the bundle atomically; the bytes are deterministic."""
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> "Bundle":
        """Checks magic, format, checksum and plan (BadModelError otherwise)."""
    @property
    def report(self) -> Optional[Dict[str, Any]]:
        """`kiln compile --json`'s figures (bytes, kernels, dispatches, weight_bytes,
        passes, prune, quantize) plus `text`, the `--report` text; None when loaded."""
    def inspect(self) -> Dict[str, Any]:
        """What `kiln inspect --json` prints."""
    def wgsl(self) -> Dict[str, str]:
        """Every kernel's WGSL source, by kernel name."""

class Session:
    """A model loaded to run many times, like onnxruntime's InferenceSession.

    An .onnx model is compiled in memory for the adapter it runs on (priced and shaped
    for it unless `profile` is given), as `kiln run` does; a bundle runs as compiled.
    `backend="cpu"` runs the compiled graph on the CPU reference interpreter (ONNX
    models only). Keyword options are kiln.compile's.
    """

    def __init__(
        self,
        model: Model,
        *,
        adapter: Optional[str] = None,
        backend: str = "gpu",
        opt: Optional[int] = None,
        shapes: Optional[Dict[str, Sequence[int]]] = None,
        profile: Optional[PathLike] = None,
        quantize: Optional[str] = None,
        prune: Optional[str] = None,
        accuracy_budget: Optional[float] = None,
        calibration: Optional[PathLike] = None,
        disable_rules: Optional[Sequence[str]] = None,
        disable_sets: Optional[Sequence[str]] = None,
        iter_limit: Optional[int] = None,
        node_limit: Optional[int] = None,
        time_limit: Optional[float] = None,
    ) -> None: ...
    def get_inputs(self) -> List[NodeArg]: ...
    def get_outputs(self) -> List[NodeArg]: ...
    def run(
        self,
        output_names: Optional[Sequence[str]],
        input_feed: Dict[str, npt.NDArray[Any]],
        run_options: None = None,
    ) -> List[npt.NDArray[Any]]:
        """Runs on every input (its declared dtype and shape; int64, uint64 and double
        values must fit kiln's i32, u32 and f32) and returns the outputs named (all for
        None) as arrays of their declared dtypes. Releases the GIL while running."""
    @property
    def adapter(self) -> Optional[str]: ...
    @property
    def bundle(self) -> Optional[Bundle]: ...

#: onnxruntime's name for Session.
InferenceSession = Session

def compile(
    model: Model,
    *,
    opt: Optional[int] = None,
    shapes: Optional[Dict[str, Sequence[int]]] = None,
    profile: Optional[PathLike] = None,
    quantize: Optional[str] = None,
    prune: Optional[str] = None,
    accuracy_budget: Optional[float] = None,
    calibration: Optional[PathLike] = None,
    disable_rules: Optional[Sequence[str]] = None,
    disable_sets: Optional[Sequence[str]] = None,
    iter_limit: Optional[int] = None,
    node_limit: Optional[int] = None,
    time_limit: Optional[float] = None,
) -> Bundle:
    """`kiln compile`: the same options and the same bundle bytes (the default
    profile is `cpu-emulation`; pass `profile="discrete"` for a GPU bundle)."""

def load(path: PathLike) -> Bundle:
    """Reads a .kiln bundle (BadModelError when it does not verify)."""

def bench(
    model: Model,
    *,
    inputs: Optional[Dict[str, npt.NDArray[Any]]] = None,
    iters: int = 20,
    warmup: int = 3,
    adapter: Optional[str] = None,
    **options: Any,
) -> Dict[str, Any]:
    """`kiln bench --json`: median/min/max latency, GPU time per kernel and op. Inputs
    not given are seeded random values."""

def adapters() -> List[str]:
    """The GPU adapters present, best first, as `adapter=` matches them. Raises
    `DeviceError` when `WGPU_BACKEND` names an unknown graphics API."""

def dump(
    model: Model,
    *,
    after: Optional[Union[str, Sequence[str]]] = None,
    format: str = "text",
    full_constants: bool = False,
    **options: Any,
) -> str:
    """`kiln dump`: the IR after import and each pass named (`all`, `egraph`, a pass of
    the pipeline), as `text`, `dot` or `json`."""
