//! A real speech model with recurrent and control-flow ops: the Silero voice-activity
//! detector (`real/vad`, from the silero-vad wheel: `scripts/make-real-data.py`), whose
//! 4 LSTMs and 25 Ifs choose the 16 kHz or the 8 kHz network on its int64 input `sr`.
//! kiln takes `sr` as a constant (as `kiln run --input sr=...` does), so each If takes
//! its branch at import, and the LSTMs run unrolled over the chunk's frames. Each case
//! (two chunks per rate, the second from the state the first returned) runs on the CPU
//! reference and on the GPU at `--opt 0` and `--opt 2` and must match onnxruntime's
//! output within relative L2 1e-3 per output: f32 arithmetic in another order through
//! 4 LSTM layers and a sigmoid (measured: about 2e-5 on the probability, 1e-7 on the
//! state).

mod common;

use common::{data_dir, gpu, read_pbs, run_within, show, Backend, Case};

/// The bound on each output's relative L2 to onnxruntime's.
const TOLERANCE: f64 = 1e-3;

#[test]
fn silero_vad_matches_onnxruntime_on_cpu_and_gpu() {
    let test = "real/vad";
    let Some(dir) = data_dir("real/vad", test) else {
        return;
    };
    let mut backends = vec![Backend::Cpu];
    backends.extend(gpu(test).map(Backend::Gpu));
    let mut failures = Vec::new();
    let mut cases = 0;
    for set in 0.. {
        let data = dir.join(format!("test_data_set_{set}"));
        if !data.is_dir() {
            break;
        }
        let case = Case {
            name: format!("vad set {set}"),
            model: dir.join("model.onnx"),
            inputs: read_pbs(&data, "input").unwrap(),
            outputs: read_pbs(&data, "output").unwrap(),
        };
        let rate = case.inputs[2].tensor.data().to_i64_vec().unwrap()[0];
        for backend in &backends {
            for opt in [0, 2] {
                let label = format!("{} {} --opt {opt}", case.name, backend.name());
                let run = (backend, opt);
                let Some((ran, errors)) = run_within(&case, run, TOLERANCE, &label, &mut failures)
                else {
                    continue;
                };
                show(&format!(
                    "{test} {} ({rate} Hz) {} --opt {opt}: relative L2 {:.2e} (probability), \
                     {:.2e} (state); {} ops",
                    case.name,
                    backend.name(),
                    errors[0],
                    errors[1],
                    ran.ops
                ));
            }
        }
        cases += 1;
    }
    assert_eq!(
        cases, 4,
        "{test}: expected 4 test sets (2 at 16 kHz, 2 at 8 kHz)"
    );
    assert!(failures.is_empty(), "{test}:\n{}", failures.join("\n"));
}
