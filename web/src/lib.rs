//! kiln in the browser: a wasm-bindgen package that loads a `.kiln` bundle's bytes and
//! runs it on `navigator.gpu` through the runtime's async path.
//!
//! From JavaScript (after `wasm-bindgen --target web`, see `scripts/build-web.sh`):
//!
//! ```js
//! import init, { Kiln } from "./pkg/kiln_web.js";
//! await init();
//! const kiln = await Kiln.create();          // the adapter navigator.gpu offers
//! const model = await kiln.load(bytes);      // a Uint8Array of a .kiln file
//! const outputs = await model.run([new Float32Array(n)]);  // one typed array per input
//! // outputs: [{ name, dtype, shape, data }], data a Float32Array, Int32Array, ...
//! ```
//!
//! Every failure (no WebGPU, a corrupt bundle, a limit the adapter lacks, a wrong
//! input) rejects the promise with one `Error` whose message says what is wrong.

mod model;
mod values;

pub use model::{Kiln, Model};
