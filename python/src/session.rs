//! `kiln.Session`: a model loaded on a GPU adapter (or the CPU reference) to run many
//! times, shaped like onnxruntime's `InferenceSession`: `get_inputs()`,
//! `get_outputs()`, `run(output_names, feeds)`.

use crate::arrays::{read_array, to_array};
use crate::errors::{to_py, Kind};
use crate::options::CompileArgs;
use crate::source::Source;
use kiln::ir::TensorType;
use kiln::{HostValues, Tensor, Wide};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A model input or output as onnxruntime's `NodeArg` describes it.
#[pyclass(module = "kiln", frozen, get_all)]
#[derive(Clone)]
pub struct NodeArg {
    /// The port's name.
    name: String,
    /// Its dims (all static: kiln compiles for one shape).
    shape: Vec<usize>,
    /// onnxruntime's type string: `tensor(float)`, `tensor(int64)`, ...
    r#type: String,
    /// The numpy dtype name arrays for it have (`float32`, `int64`, ...), or `None`
    /// where numpy has no such dtype (float8, int4: outputs come as float32 / int8).
    dtype: Option<String>,
}

#[pymethods]
impl NodeArg {
    fn __repr__(&self) -> String {
        format!(
            "NodeArg(name='{}', type='{}', shape={:?})",
            self.name, self.r#type, self.shape
        )
    }
}

/// A port: name, the type kiln computes it as, the type the model declares.
#[derive(Clone, Debug)]
pub struct Port {
    pub name: String,
    pub ty: TensorType,
    pub wide: Wide,
}

impl Port {
    fn node_arg(&self) -> NodeArg {
        NodeArg {
            name: self.name.clone(),
            shape: self.ty.shape.dims().to_vec(),
            r#type: format!("tensor({})", onnx_type(self.ty.dtype, self.wide)),
            dtype: kiln::host_dtype(self.ty.dtype, self.wide).map(str::to_string),
        }
    }

    fn of_plan(p: &kiln::codegen::PlanPort) -> Port {
        Port {
            name: p.name.clone(),
            ty: kiln::port_type(p),
            wide: p.wide,
        }
    }

    fn of_graph(graph: &kiln::Graph, p: &kiln::ir::Port) -> Port {
        Port {
            name: p.name.clone(),
            ty: graph.ty(p.value).clone(),
            wide: p.wide,
        }
    }
}

/// The ONNX name of the type a port computed as `dtype` is declared as.
fn onnx_type(dtype: kiln::DType, wide: Wide) -> &'static str {
    use kiln::DType as D;
    if let Some(name) = wide.onnx_name() {
        return name;
    }
    match dtype {
        D::F32 => "float",
        D::F16 => "float16",
        D::I32 => "int32",
        D::U32 => "uint32",
        D::I16 => "int16",
        D::U16 => "uint16",
        D::I8 => "int8",
        D::U8 => "uint8",
        D::Bool => "bool",
        D::I4 => "int4",
        D::U4 => "uint4",
        D::I2 => "int2",
        D::U2 => "uint2",
        D::F8E4M3FN => "float8e4m3fn",
        D::F8E5M2 => "float8e5m2",
        D::F4E2M1 => "float4e2m1",
        D::F8E4M3FNUZ => "float8e4m3fnuz",
        D::F8E5M2FNUZ => "float8e5m2fnuz",
    }
}

/// Where a session runs.
enum Engine {
    /// A bundle loaded on a GPU adapter.
    Gpu {
        session: Mutex<kiln::Session>,
        adapter: String,
        bundle: Py<crate::bundle::Bundle>,
    },
    /// A compiled graph on the CPU reference interpreter.
    Cpu { graph: kiln::Graph },
}

/// A model ready to run many times, like onnxruntime's `InferenceSession`.
///
/// `Session(model, *, adapter=None, backend="gpu", **options)`: `model` is a path (an
/// `.onnx` file or a `.kiln` bundle), bytes, an `onnx.ModelProto` or a `Bundle`. An
/// ONNX model is compiled in memory for the adapter it runs on (`adapter`: a part of
/// its name, else the best one present), priced and shaped for it unless `profile` is
/// given; `options` are `kiln.compile`'s keywords. `backend="cpu"` runs the compiled
/// graph on the CPU reference interpreter instead (ONNX models only).
#[pyclass(module = "kiln", frozen)]
pub struct Session {
    engine: Engine,
    inputs: Vec<Port>,
    outputs: Vec<Port>,
}

#[pymethods]
impl Session {
    #[new]
    #[pyo3(signature = (model, *, adapter=None, backend="gpu", **options))]
    fn new(
        py: Python<'_>,
        model: &Bound<'_, PyAny>,
        adapter: Option<String>,
        backend: &str,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Session> {
        let args = CompileArgs::from_kwargs("Session", options)?;
        match backend {
            "gpu" => Session::on_gpu(py, model, adapter, args),
            "cpu" => {
                if adapter.is_some() {
                    return Err(Kind::Option.err("adapter applies to backend='gpu'"));
                }
                Session::on_cpu(py, model, args)
            }
            other => Err(Kind::Option.err(format!(
                "backend '{other}': expected 'gpu' (WGSL kernels through wgpu) or 'cpu' (the \
                 reference interpreter)"
            ))),
        }
    }

    /// The model's inputs, in order.
    fn get_inputs(&self) -> Vec<NodeArg> {
        self.inputs.iter().map(Port::node_arg).collect()
    }

    /// The model's outputs, in order.
    fn get_outputs(&self) -> Vec<NodeArg> {
        self.outputs.iter().map(Port::node_arg).collect()
    }

    /// The adapter the session runs on (`None` on the CPU reference).
    #[getter]
    fn adapter(&self) -> Option<String> {
        match &self.engine {
            Engine::Gpu { adapter, .. } => Some(adapter.clone()),
            Engine::Cpu { .. } => None,
        }
    }

    /// The bundle the session runs (`None` on the CPU reference).
    #[getter]
    fn bundle(&self, py: Python<'_>) -> Option<Py<crate::bundle::Bundle>> {
        match &self.engine {
            Engine::Gpu { bundle, .. } => Some(bundle.clone_ref(py)),
            Engine::Cpu { .. } => None,
        }
    }

    /// Runs the model on `input_feed` (`{name: numpy array}`, every input, each of its
    /// declared dtype and shape) and returns the outputs `output_names` names (all
    /// when `None`), in that order, as numpy arrays of their declared dtypes.
    #[pyo3(signature = (output_names, input_feed, run_options=None))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        output_names: Option<Vec<String>>,
        input_feed: &Bound<'py, PyDict>,
        run_options: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        if run_options.is_some_and(|r| !r.is_none()) {
            return Err(Kind::Option.err("run_options are not supported by kiln; pass None"));
        }
        let wanted = self.output_indices(output_names)?;
        let inputs = self.bind(input_feed)?;
        let outputs = py
            .detach(|| match &self.engine {
                Engine::Gpu { session, .. } => {
                    let mut session = session
                        .lock()
                        .map_err(|_| kiln::Error::Unsupported("the session is poisoned".into()))?;
                    Ok(session.run(&inputs)?)
                }
                Engine::Cpu { graph } => kiln::run_cpu(graph, &inputs),
            })
            .map_err(to_py)?;
        let arrays = PyList::empty(py);
        for i in wanted {
            let (port, tensor) = (&self.outputs[i], &outputs[i]);
            let values = HostValues::widen(tensor, port.wide);
            // The tensor's own shape: an output of data-dependent length is cut.
            arrays.append(to_array(py, values, tensor.shape().dims())?)?;
        }
        Ok(arrays)
    }

    fn __repr__(&self) -> String {
        let names = |ports: &[Port]| {
            ports
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let on = match &self.engine {
            Engine::Gpu { adapter, .. } => adapter.clone(),
            Engine::Cpu { .. } => "the CPU reference".to_string(),
        };
        format!(
            "<kiln.Session ({}) -> ({}) on {on}>",
            names(&self.inputs),
            names(&self.outputs)
        )
    }
}

impl Session {
    fn on_gpu(
        py: Python<'_>,
        model: &Bound<'_, PyAny>,
        adapter: Option<String>,
        args: CompileArgs,
    ) -> PyResult<Session> {
        let (bundle, name, _, runtime) = crate::gpu_bundle(py, model, adapter.as_deref(), &args)?;
        let session = py
            .detach(|| kiln::load_bundle(&runtime, &bundle))
            .map_err(to_py)?;
        let adapter = runtime.describe();
        let plan = &bundle.manifest.plan;
        let inputs = plan.inputs.iter().map(Port::of_plan).collect();
        let outputs = plan.model_outputs().iter().map(Port::of_plan).collect();
        let bundle = Py::new(py, crate::bundle::Bundle::loaded(bundle, name))?;
        Ok(Session {
            engine: Engine::Gpu {
                session: Mutex::new(session),
                adapter,
                bundle,
            },
            inputs,
            outputs,
        })
    }

    fn on_cpu(py: Python<'_>, model: &Bound<'_, PyAny>, args: CompileArgs) -> PyResult<Session> {
        let source = Source::read(py, model)?;
        if let Source::Bundle(_, name) = &source {
            return Err(Kind::Option.err(format!(
                "backend='cpu' cannot run {name}: a bundle holds GPU kernels, not the model's \
                 graph; give the .onnx model, or use backend='gpu'"
            )));
        }
        let (model, _) = source.onnx("backend='cpu'")?;
        let graph = py
            .detach(|| {
                let options = args.options(&model)?;
                kiln::compile_onnx(&model, &options)
            })
            .map_err(to_py)?;
        let inputs = graph
            .inputs
            .iter()
            .map(|p| Port::of_graph(&graph, p))
            .collect();
        let outputs = graph
            .model_outputs()
            .iter()
            .map(|p| Port::of_graph(&graph, p))
            .collect();
        Ok(Session {
            engine: Engine::Cpu { graph },
            inputs,
            outputs,
        })
    }

    /// Indices of the outputs asked for, in the order asked.
    fn output_indices(&self, names: Option<Vec<String>>) -> PyResult<Vec<usize>> {
        let Some(names) = names else {
            return Ok((0..self.outputs.len()).collect());
        };
        names
            .iter()
            .map(|name| {
                self.outputs
                    .iter()
                    .position(|p| &p.name == name)
                    .ok_or_else(|| {
                        Kind::BadInput.err(format!(
                            "output '{name}': the model has no output named '{name}' \
                             (outputs: {})",
                            port_names(&self.outputs)
                        ))
                    })
            })
            .collect()
    }

    /// The input tensors, in input order, from the feed; a missing one is a
    /// `BadInputError`.
    fn bind(&self, feed: &Bound<'_, PyDict>) -> PyResult<Vec<Tensor>> {
        let values = read_feed(&self.inputs, feed)?;
        match &self.engine {
            Engine::Cpu { graph } => kiln::bind_inputs(graph, &values),
            Engine::Gpu { bundle, .. } => {
                kiln::bind_plan_inputs(&bundle.get().inner.manifest.plan, &values)
            }
        }
        .map_err(to_py)
    }
}

/// `ports`' names, comma-separated.
pub fn port_names(ports: &[Port]) -> String {
    ports
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The tensors `feed` (`{name: array}`) gives, by name, each checked against its port
/// in `ports` (dtype, shape; 64-bit values narrowed). An unknown name is a
/// `BadInputError`; missing inputs are left to the caller.
pub fn read_feed(ports: &[Port], feed: &Bound<'_, PyDict>) -> PyResult<BTreeMap<String, Tensor>> {
    let mut values: BTreeMap<String, Tensor> = BTreeMap::new();
    for (key, array) in feed.iter() {
        let name: String = key
            .extract()
            .map_err(|_| Kind::BadInput.err("input names must be strings"))?;
        let Some(port) = ports.iter().find(|p| p.name == name) else {
            return Err(Kind::BadInput.err(format!(
                "input '{name}': the model has no input named '{name}' (inputs: {})",
                port_names(ports)
            )));
        };
        let (host, shape) = read_array(&name, &array)?;
        let tensor = kiln::port_tensor(&name, &port.ty, port.wide, host, &shape).map_err(to_py)?;
        values.insert(name, tensor);
    }
    Ok(values)
}
