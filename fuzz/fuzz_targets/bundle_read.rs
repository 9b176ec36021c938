//! Fuzz target: the bundle reader (`Bundle::from_bytes`), which runs the plan verifier
//! (`kiln_codegen::verify_plan`) on every plan it reads. Two input forms: a whole bundle (starts with the magic bytes; its
//! checksum is patched first so mutations reach the manifest), or a bare manifest
//! (JSON) that is wrapped into a bundle with zeroed weights of the size it declares.
#![no_main]

use kiln_codegen::bundle::{Bundle, MAGIC};
use kiln_codegen::verify_plan;
use libfuzzer_sys::fuzz_target;

/// The bundle header's length and the weights' alignment in the file (`bundle.rs`).
const HEADER_LEN: usize = 40;
const WEIGHTS_ALIGN: usize = 256;
/// The most zeroed weight bytes a bare manifest may ask for.
const MAX_WEIGHTS: u64 = 1 << 20;

/// Bundle bytes around manifest `json`, with as many zero weight bytes as its
/// `plan.weights_len` says (or none, when that is absent or too large).
fn wrap_manifest(json: &[u8]) -> Vec<u8> {
    let weights_len = serde_json::from_slice::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v.get("plan")?.get("weights_len")?.as_u64())
        .filter(|&n| n <= MAX_WEIGHTS)
        .unwrap_or(0) as usize;
    let weights_offset = (HEADER_LEN + json.len()).next_multiple_of(WEIGHTS_ALIGN);
    let mut out = Vec::with_capacity(weights_offset + weights_len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&(weights_offset as u64).to_le_bytes());
    out.extend_from_slice(&(weights_len as u64).to_le_bytes());
    out.extend_from_slice(json);
    out.resize(weights_offset + weights_len, 0);
    out
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = if data.starts_with(MAGIC) {
        data.to_vec()
    } else {
        wrap_manifest(data)
    };
    if bytes.len() >= 16 {
        let crc = crc32fast::hash(&bytes[16..]);
        bytes[12..16].copy_from_slice(&crc.to_le_bytes());
    }
    let Ok(bundle) = Bundle::from_bytes(&bytes) else {
        return;
    };
    // 256: the storage-binding offset alignment wgpu's default limits promise.
    // Reading ran the plan verifier: a bundle that reads is one it accepts.
    if let Err(e) = verify_plan(&bundle.manifest.plan, bundle.weights.len() as u64) {
        panic!("a bundle that reads does not verify: {e}");
    }
    // A bundle that reads must write back to bytes that read as the same plan,
    // decisions and weights. (Not the same bytes: the free-form `options` record is a
    // `serde_json::Value`, whose floats serde_json re-prints to the nearest digits
    // it parsed, not always the ones written.)
    let again = Bundle::from_bytes(&bundle.to_bytes()).expect("a written bundle reads back");
    assert_eq!(
        again.manifest.plan, bundle.manifest.plan,
        "plan changed on a round trip"
    );
    assert_eq!(again.manifest.decisions, bundle.manifest.decisions);
    assert_eq!(
        again.weights, bundle.weights,
        "weights changed on a round trip"
    );
});
