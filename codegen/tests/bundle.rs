//! Bundle format: round trip, determinism, and clear errors on damaged files.

use kiln_codegen::bundle::{Bundle, BundleError, FORMAT_VERSION};
use kiln_codegen::*;
use kiln_ir::DType;

fn sample() -> Bundle {
    let plan = KernelPlan {
        inputs: vec![PlanPort {
            name: "x".into(),
            dtype: DType::F32,
            shape: vec![3],
            wide: kiln_ir::Wide::No,
            buffer: 0,
        }],
        outputs: vec![PlanPort {
            name: "y".into(),
            dtype: DType::F32,
            shape: vec![3],
            wide: kiln_ir::Wide::No,
            buffer: 2,
        }],
        buffers: vec![
            BufferDesc {
                size: 12,
                kind: BufferKind::Input(0),
            },
            BufferDesc {
                size: 12,
                kind: BufferKind::Constant { offset: 0 },
            },
            BufferDesc {
                size: 12,
                kind: BufferKind::Intermediate,
            },
        ],
        kernels: vec![Kernel {
            name: "add_0".into(),
            op: "add".into(),
            wgsl: "// kernel".into(),
            entry_point: "main".into(),
            workgroup_size: [64, 1, 1],
            bindings: vec![Access::Read, Access::Read, Access::ReadWrite],
            workgroup_storage_bytes: 0,
        }],
        dispatches: vec![Dispatch {
            kernel: 0,
            workgroups: [1, 1, 1],
            bindings: [0, 1, 2]
                .map(|buffer| BufferBinding {
                    buffer,
                    offset: 0,
                    size: None,
                })
                .to_vec(),
        }],
        weights_len: 12,
        requirements: Requirements::default(),
        checks: Vec::new(),
        extents: Vec::new(),
        zeroed: Vec::new(),
    };
    let weights = [1.0f32, 2.0, 3.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    Bundle::new(
        "sample",
        serde_json::json!({"opt": 0}),
        CompiledPlan {
            plan,
            weights,
            decisions: Default::default(),
        },
    )
}

#[test]
fn round_trips_and_is_deterministic() {
    let b = sample();
    let bytes = b.to_bytes();
    assert_eq!(bytes, sample().to_bytes());
    assert_eq!(Bundle::from_bytes(&bytes).unwrap(), b);
}

#[test]
fn every_flipped_byte_is_detected() {
    let bytes = sample().to_bytes();
    for i in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[i] ^= 0x40;
        assert!(
            Bundle::from_bytes(&damaged).is_err(),
            "flipping byte {i} went unnoticed"
        );
    }
}

#[test]
fn damaged_files_give_clear_errors() {
    let bytes = sample().to_bytes();
    let err = Bundle::from_bytes(&bytes[..bytes.len() - 5]).unwrap_err();
    assert!(matches!(err, BundleError::Truncated(_)), "{err}");
    let err = Bundle::from_bytes(&bytes[..20]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bundle is truncated: 20 bytes, the header alone is 40"
    );
    assert_eq!(
        Bundle::from_bytes(b"PK\x03\x04 a zip")
            .unwrap_err()
            .to_string(),
        "not a kiln bundle (bad magic bytes)"
    );

    let mut newer = bytes.clone();
    newer[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let msg = Bundle::from_bytes(&newer).unwrap_err().to_string();
    let want = format!(
        "bundle format version {} is newer than this kiln reads",
        FORMAT_VERSION + 1
    );
    assert!(msg.starts_with(&want), "{msg}");

    let mut flipped = bytes;
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert_eq!(
        Bundle::from_bytes(&flipped).unwrap_err().to_string(),
        "bundle is corrupted: checksum mismatch"
    );
}

/// A version 1 bundle (the manifest as plain JSON, before it was deflated) still reads.
#[test]
fn version_one_bundles_still_read() {
    let bundle = sample();
    let json = serde_json::to_vec(&bundle.manifest).unwrap();
    let weights_offset = (40 + json.len()).next_multiple_of(256);
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"KILNBNDL");
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    bytes.extend_from_slice(&(json.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&(weights_offset as u64).to_le_bytes());
    bytes.extend_from_slice(&(bundle.weights.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&json);
    bytes.resize(weights_offset, 0);
    bytes.extend_from_slice(&bundle.weights);
    let crc = crc32fast::hash(&bytes[16..]);
    bytes[12..16].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(Bundle::from_bytes(&bytes).unwrap(), bundle);
    // The current format deflates the manifest: smaller than the JSON it holds.
    assert!(bundle.to_bytes().len() < bytes.len());
    // A deflated manifest that does not inflate is a corrupted bundle, not a panic.
    let mut garbled = bundle.to_bytes();
    garbled[40..48].copy_from_slice(&[0xff; 8]);
    let crc = crc32fast::hash(&garbled[16..]);
    garbled[12..16].copy_from_slice(&crc.to_le_bytes());
    let err = Bundle::from_bytes(&garbled).unwrap_err().to_string();
    assert!(err.starts_with("bundle is corrupted: manifest"), "{err}");
}

#[test]
fn writes_atomically_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.kiln");
    sample().write(&path).unwrap();
    assert_eq!(Bundle::read(&path).unwrap(), sample());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp file left behind"
    );
    let missing = Bundle::read(&dir.path().join("nope.kiln"))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("nope.kiln"), "{missing}");
}

/// A port of a bundle written before ports had kinds stored a bool `i64`; it reads as
/// the int64 kind (or none), and the kind is written by its marker.
#[test]
fn old_int64_port_flags_still_read() {
    let old = r#"{"name":"x","dtype":"i32","shape":[2],"i64":true,"buffer":0}"#;
    let port: PlanPort = serde_json::from_str(old).unwrap();
    assert_eq!(port.wide, kiln_ir::Wide::I64);
    let old = r#"{"name":"x","dtype":"f32","shape":[2],"i64":false,"buffer":0}"#;
    let port: PlanPort = serde_json::from_str(old).unwrap();
    assert_eq!(port.wide, kiln_ir::Wide::No);
    let port = PlanPort {
        wide: kiln_ir::Wide::F64,
        ..port
    };
    let text = serde_json::to_string(&port).unwrap();
    assert!(text.contains(r#""wide":"f64""#), "{text}");
    assert_eq!(serde_json::from_str::<PlanPort>(&text).unwrap(), port);
}

/// A plan with buffers to zero before each run is format version 3 (a kiln reading only
/// version 2 would not zero them); any other plan is still written as version 2, so
/// kiln before version 3 reads it as before.
#[test]
fn only_plans_with_zeroed_buffers_are_version_three() {
    let plain = sample().to_bytes();
    assert_eq!(u32::from_le_bytes(plain[8..12].try_into().unwrap()), 2);
    let mut zeroing = sample();
    zeroing.manifest.plan.zeroed = vec![2];
    let bytes = zeroing.to_bytes();
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 3);
    assert_eq!(FORMAT_VERSION, 3);
    assert_eq!(Bundle::from_bytes(&bytes).unwrap(), zeroing);
    // Zeroing anything but an intermediate buffer is refused when the bundle is read.
    zeroing.manifest.plan.zeroed = vec![1];
    let err = Bundle::from_bytes(&zeroing.to_bytes()).unwrap_err();
    assert!(
        err.to_string()
            .contains("zeroed buffer 1 is not an intermediate buffer of the plan"),
        "{err}"
    );
}
