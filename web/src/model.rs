//! The JavaScript classes: `Kiln`, the adapter `navigator.gpu` offers, and `Model`, a
//! bundle loaded on its own device.

use crate::values;
use js_sys::{Array, Promise};
use kiln_codegen::bundle::Bundle;
use kiln_codegen::PlanPort;
use kiln_runtime::{Runtime, RuntimeOptions, Session};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

/// The browser's WebGPU, to load bundles on.
#[wasm_bindgen]
pub struct Kiln {
    /// The adapter found at creation, for its description: WebGPU lets an adapter
    /// create one device, so each load requests its own.
    runtime: Runtime,
}

#[wasm_bindgen]
impl Kiln {
    /// The adapter `navigator.gpu` offers (rejects where the browser has no WebGPU).
    pub async fn create() -> Result<Kiln, JsError> {
        let runtime = Runtime::new_async(&RuntimeOptions::default())
            .await
            .map_err(|e| JsError::new(&e.to_string()))?;
        Ok(Kiln { runtime })
    }

    /// The adapter's name, backend and kind.
    #[wasm_bindgen(getter)]
    pub fn adapter(&self) -> String {
        self.runtime.describe()
    }

    /// A promise of the [`Model`] of a `.kiln` file's bytes: the bundle checked
    /// against the adapter's limits, its constants uploaded, its kernels compiled.
    pub fn load(&self, bytes: Vec<u8>) -> Promise {
        future_to_promise(async move {
            let bundle = Bundle::from_bytes(&bytes).map_err(|e| error(&e.to_string()))?;
            let plan = &bundle.manifest.plan;
            let runtime = Runtime::new_async(&RuntimeOptions::default())
                .await
                .map_err(|e| error(&e.to_string()))?;
            let session = runtime
                .load_async(plan, &bundle.weights)
                .await
                .map_err(|e| error(&e.to_string()))?;
            Ok(Model {
                name: bundle.manifest.model.clone(),
                kernels: plan.kernels.len(),
                dispatches: plan.dispatches.len(),
                inputs: plan.inputs.clone(),
                outputs: plan.model_outputs().to_vec(),
                session: Rc::new(RefCell::new(Some(session))),
            }
            .into())
        })
    }
}

/// A bundle loaded on its device, ready to run any number of times (one run at a
/// time).
#[wasm_bindgen]
pub struct Model {
    name: String,
    kernels: usize,
    dispatches: usize,
    inputs: Vec<PlanPort>,
    outputs: Vec<PlanPort>,
    /// `None` while a run holds it.
    session: Rc<RefCell<Option<Session>>>,
}

#[wasm_bindgen]
impl Model {
    /// The model's graph name.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// How many distinct kernels the bundle holds.
    #[wasm_bindgen(getter)]
    pub fn kernels(&self) -> usize {
        self.kernels
    }

    /// How many dispatches one run records.
    #[wasm_bindgen(getter)]
    pub fn dispatches(&self) -> usize {
        self.dispatches
    }

    /// `[{ name, dtype, shape }]` of the inputs, in order.
    pub fn inputs(&self) -> Array {
        self.inputs.iter().map(values::describe).collect()
    }

    /// `[{ name, dtype, shape }]` of the outputs, in order.
    pub fn outputs(&self) -> Array {
        self.outputs.iter().map(values::describe).collect()
    }

    /// A promise of the outputs, `[{ name, dtype, shape, data }]`, for `inputs`: one
    /// typed array (or array of numbers) per input, in order.
    pub fn run(&self, inputs: Array) -> Promise {
        let tensors = if inputs.length() as usize != self.inputs.len() {
            Err(format!(
                "expected {} inputs, got {}",
                self.inputs.len(),
                inputs.length()
            ))
        } else {
            self.inputs
                .iter()
                .zip(inputs.iter())
                .map(|(port, value)| values::input(port, &value))
                .collect::<Result<Vec<_>, _>>()
        };
        let cell = self.session.clone();
        let ports = self.outputs.clone();
        future_to_promise(async move {
            let tensors = tensors.map_err(|e| error(&e))?;
            let taken = cell.borrow_mut().take();
            let mut session =
                taken.ok_or_else(|| error("this model is still running: await its last run"))?;
            let result = session.run_async(&tensors).await;
            *cell.borrow_mut() = Some(session);
            let outputs = result.map_err(|e| error(&e.to_string()))?;
            let array: Array = ports
                .iter()
                .zip(&outputs)
                .map(|(port, t)| values::output(port, t))
                .collect();
            Ok(array.into())
        })
    }
}

/// A JavaScript `Error` with `message`.
fn error(message: &str) -> JsValue {
    JsError::new(message).into()
}
