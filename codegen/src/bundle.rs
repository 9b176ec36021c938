//! Kernel bundles: one self-contained `.kiln` file per compiled model.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! 0   magic            8 bytes  "KILNBNDL"
//! 8   format version   u32
//! 12  checksum         u32      CRC-32 of every byte from offset 16 to the end
//! 16  manifest length  u64
//! 24  weights offset   u64      (a multiple of 256)
//! 32  weights length   u64
//! 40  manifest         JSON (serde) of [`Manifest`], deflated (raw DEFLATE, RFC 1951)
//! ..  zero padding to the weights offset
//! ..  weights
//! ```
//!
//! Writing is deterministic (same plan → same bytes) and atomic (temp file + rename).
//! Version 1 bundles (the manifest as plain JSON) still read. Version 3 is a plan with
//! buffers the runtime zeroes before each run (`KernelPlan::zeroed`), which a kiln
//! reading version 2 would not zero: such a plan alone is written as version 3, any
//! other still as version 2. The manifest is mostly
//! WGSL text, which deflates about eightfold: without it the kernels of a 10 MB model
//! were 4% of its bundle, and as much as a quarter of its int8 copy's.

use crate::plan::KernelPlan;
use crate::verify::{verify_plan, PlanError};
use crate::CompiledPlan;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::Path;

/// The first bytes of every bundle.
pub const MAGIC: &[u8; 8] = b"KILNBNDL";
/// The newest bundle format this kiln writes and reads.
pub const FORMAT_VERSION: u32 = 3;
/// The most bytes a deflated manifest may inflate to (a guard against crafted files).
const MANIFEST_MAX: u64 = 1 << 30;
const HEADER_LEN: usize = 40;
const WEIGHTS_ALIGN: usize = 256;

/// Everything in a bundle but the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The kiln version that wrote the bundle.
    pub kiln_version: String,
    /// The model's graph name.
    pub model: String,
    /// The compile options, as the compiler recorded them.
    pub options: serde_json::Value,
    pub plan: KernelPlan,
    /// The plan builder's layout decisions (absent from bundles written before them).
    #[serde(default)]
    pub decisions: crate::PlanDecisions,
}

/// A bundle in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Bundle {
    pub manifest: Manifest,
    pub weights: Vec<u8>,
}

/// Why a bundle could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("not a kiln bundle (bad magic bytes)")]
    NotABundle,
    #[error("bundle format version {found} is newer than this kiln reads (version {FORMAT_VERSION}); upgrade kiln or recompile the model")]
    NewerFormat { found: u32 },
    #[error("bundle is truncated: {0}")]
    Truncated(String),
    #[error("bundle is corrupted: {0}")]
    Corrupted(String),
    /// The manifest parses but its plan is not self-consistent.
    #[error("bundle is corrupted: invalid plan: {0}")]
    Plan(#[from] PlanError),
}

impl Bundle {
    /// A bundle of a compiled plan.
    pub fn new(
        model: impl Into<String>,
        options: serde_json::Value,
        compiled: CompiledPlan,
    ) -> Self {
        Bundle {
            manifest: Manifest {
                kiln_version: env!("CARGO_PKG_VERSION").to_string(),
                model: model.into(),
                options,
                plan: compiled.plan,
                decisions: compiled.decisions,
            },
            weights: compiled.weights,
        }
    }

    /// The bundle's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let json = serde_json::to_vec(&self.manifest).expect("a manifest always serializes");
        let mut deflate =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        deflate.write_all(&json).expect("writing to memory");
        let manifest = deflate.finish().expect("writing to memory");
        let weights_offset = (HEADER_LEN + manifest.len()).next_multiple_of(WEIGHTS_ALIGN);
        let mut out = Vec::with_capacity(weights_offset + self.weights.len());
        out.extend_from_slice(MAGIC);
        // A plan without buffers to zero reads in kiln before format 3 as it always did.
        let version = if self.manifest.plan.zeroed.is_empty() {
            2
        } else {
            FORMAT_VERSION
        };
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&[0; 4]); // checksum, filled below
        out.extend_from_slice(&(manifest.len() as u64).to_le_bytes());
        out.extend_from_slice(&(weights_offset as u64).to_le_bytes());
        out.extend_from_slice(&(self.weights.len() as u64).to_le_bytes());
        out.extend_from_slice(&manifest);
        out.resize(weights_offset, 0);
        out.extend_from_slice(&self.weights);
        let crc = crc32fast::hash(&out[16..]);
        out[12..16].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses and checks a bundle: magic, version, lengths, checksum, manifest, and its
    /// plan ([`verify_plan`]: every index and view in range, every kernel valid WGSL).
    pub fn from_bytes(bytes: &[u8]) -> Result<Bundle, BundleError> {
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err(BundleError::NotABundle);
        }
        if bytes.len() < HEADER_LEN {
            return Err(BundleError::Truncated(format!(
                "{} bytes, the header alone is {HEADER_LEN}",
                bytes.len()
            )));
        }
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
        let version = u32_at(8);
        if version > FORMAT_VERSION {
            return Err(BundleError::NewerFormat { found: version });
        }
        if version == 0 {
            return Err(BundleError::Corrupted("format version 0".into()));
        }
        let (manifest_len, weights_offset, weights_len) = (u64_at(16), u64_at(24), u64_at(32));
        let manifest_end = (HEADER_LEN as u64).checked_add(manifest_len);
        let weights_end = weights_offset.checked_add(weights_len);
        match (manifest_end, weights_end) {
            (Some(m), Some(w)) if m <= weights_offset && w == bytes.len() as u64 => {}
            (Some(_), Some(w)) if w > bytes.len() as u64 => {
                return Err(BundleError::Truncated(format!(
                    "{} bytes, the header promises {w}",
                    bytes.len()
                )))
            }
            _ => {
                return Err(BundleError::Corrupted(
                    "section lengths do not match the file".into(),
                ))
            }
        }
        let crc = crc32fast::hash(&bytes[16..]);
        if crc != u32_at(12) {
            return Err(BundleError::Corrupted("checksum mismatch".into()));
        }
        let section = &bytes[HEADER_LEN..HEADER_LEN + manifest_len as usize];
        let json = if version == 1 {
            section.to_vec()
        } else {
            let mut json = Vec::new();
            flate2::read::DeflateDecoder::new(section)
                .take(MANIFEST_MAX + 1)
                .read_to_end(&mut json)
                .map_err(|e| BundleError::Corrupted(format!("manifest: {e}")))?;
            if json.len() as u64 > MANIFEST_MAX {
                return Err(BundleError::Corrupted(format!(
                    "manifest: inflates to more than {MANIFEST_MAX} bytes"
                )));
            }
            json
        };
        let manifest: Manifest = serde_json::from_slice(&json)
            .map_err(|e| BundleError::Corrupted(format!("manifest: {e}")))?;
        let weights = bytes[weights_offset as usize..].to_vec();
        verify_plan(&manifest.plan, weights.len() as u64)?;
        Ok(Bundle { manifest, weights })
    }

    /// Writes the bundle to `path` atomically: a temp file in the same directory,
    /// renamed over `path` only once fully written.
    pub fn write(&self, path: &Path) -> Result<(), BundleError> {
        let io = |source| BundleError::Io {
            path: path.display().to_string(),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        tmp.write_all(&self.to_bytes()).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }

    /// Reads and checks the bundle at `path`.
    pub fn read(path: &Path) -> Result<Bundle, BundleError> {
        let bytes = std::fs::read(path).map_err(|source| BundleError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Bundle::from_bytes(&bytes)
    }
}
