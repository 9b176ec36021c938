//! Which graphics API (wgpu backend) the runtime may use: named by `--backend-api`,
//! or by the `WGPU_BACKEND` variable (the option wins), parsed strictly.

use crate::RuntimeError;
use std::fmt;
use std::str::FromStr;

/// A graphics API wgpu reaches GPUs through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendApi {
    /// Vulkan (Linux, Windows, Android; lavapipe is Mesa's CPU driver for it).
    Vulkan,
    /// OpenGL / OpenGL ES (through EGL on Linux; llvmpipe is Mesa's CPU driver for it).
    Gl,
    /// Metal (macOS, iOS).
    Metal,
    /// Direct3D 12 (Windows).
    Dx12,
}

impl BackendApi {
    /// Every API, in the order help texts list them.
    pub const ALL: [BackendApi; 4] = [
        BackendApi::Vulkan,
        BackendApi::Gl,
        BackendApi::Metal,
        BackendApi::Dx12,
    ];

    /// The canonical name (`vulkan`, `gl`, `metal`, `dx12`).
    pub fn name(self) -> &'static str {
        match self {
            BackendApi::Vulkan => "vulkan",
            BackendApi::Gl => "gl",
            BackendApi::Metal => "metal",
            BackendApi::Dx12 => "dx12",
        }
    }

    /// wgpu's flag for this API.
    pub fn backends(self) -> wgpu::Backends {
        match self {
            BackendApi::Vulkan => wgpu::Backends::VULKAN,
            BackendApi::Gl => wgpu::Backends::GL,
            BackendApi::Metal => wgpu::Backends::METAL,
            BackendApi::Dx12 => wgpu::Backends::DX12,
        }
    }

    /// The API of a wgpu backend, if kiln names it.
    pub fn of(backend: wgpu::Backend) -> Option<BackendApi> {
        match backend {
            wgpu::Backend::Vulkan => Some(BackendApi::Vulkan),
            wgpu::Backend::Gl => Some(BackendApi::Gl),
            wgpu::Backend::Metal => Some(BackendApi::Metal),
            wgpu::Backend::Dx12 => Some(BackendApi::Dx12),
            _ => None,
        }
    }

    /// A comma-separated list of names (`vulkan`, `gl,vulkan`), as `WGPU_BACKEND` takes
    /// it. Unlike wgpu, an unknown name is an error rather than ignored.
    pub fn parse_list(text: &str) -> Result<Vec<BackendApi>, RuntimeError> {
        let mut apis = Vec::new();
        for name in text.split(',') {
            let api = name.parse::<BackendApi>()?;
            if !apis.contains(&api) {
                apis.push(api);
            }
        }
        Ok(apis)
    }

    /// The APIs `WGPU_BACKEND` names, or `None` when it is unset or empty.
    pub fn from_env() -> Result<Option<Vec<BackendApi>>, RuntimeError> {
        match std::env::var("WGPU_BACKEND") {
            Ok(text) if !text.trim().is_empty() => {
                BackendApi::parse_list(&text)
                    .map(Some)
                    .map_err(|e| match e {
                        RuntimeError::BadBackendApi(why) => {
                            RuntimeError::BadBackendApi(format!("WGPU_BACKEND: {why}"))
                        }
                        other => other,
                    })
            }
            Ok(_) => Ok(None),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(RuntimeError::BadBackendApi(
                "WGPU_BACKEND is not valid UTF-8".into(),
            )),
        }
    }
}

/// The backends to open: `chosen` if given, else those `WGPU_BACKEND` names, else all.
pub(crate) fn backends(chosen: &[BackendApi]) -> Result<wgpu::Backends, RuntimeError> {
    let apis = if chosen.is_empty() {
        match BackendApi::from_env()? {
            Some(apis) => apis,
            None => return Ok(wgpu::Backends::all()),
        }
    } else {
        chosen.to_vec()
    };
    Ok(apis
        .iter()
        .fold(wgpu::Backends::empty(), |all, api| all | api.backends()))
}

impl FromStr for BackendApi {
    type Err = RuntimeError;

    /// The canonical names and wgpu's aliases (`vk`, `gles`, `opengl`, `mtl`, `d3d12`),
    /// ignoring case and surrounding spaces.
    fn from_str(text: &str) -> Result<BackendApi, RuntimeError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "vulkan" | "vk" => Ok(BackendApi::Vulkan),
            "gl" | "gles" | "opengl" => Ok(BackendApi::Gl),
            "metal" | "mtl" => Ok(BackendApi::Metal),
            "dx12" | "d3d12" => Ok(BackendApi::Dx12),
            _ => {
                let names: Vec<&str> = BackendApi::ALL.iter().map(|a| a.name()).collect();
                Err(RuntimeError::BadBackendApi(format!(
                    "unknown backend API '{}' (expected one of {})",
                    text.trim(),
                    names.join(", ")
                )))
            }
        }
    }
}

impl fmt::Display for BackendApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_parse() {
        assert_eq!("vulkan".parse::<BackendApi>().unwrap(), BackendApi::Vulkan);
        assert_eq!(" VK ".parse::<BackendApi>().unwrap(), BackendApi::Vulkan);
        assert_eq!("GL".parse::<BackendApi>().unwrap(), BackendApi::Gl);
        assert_eq!("opengl".parse::<BackendApi>().unwrap(), BackendApi::Gl);
        assert_eq!("mtl".parse::<BackendApi>().unwrap(), BackendApi::Metal);
        assert_eq!("d3d12".parse::<BackendApi>().unwrap(), BackendApi::Dx12);
        for api in BackendApi::ALL {
            assert_eq!(api.name().parse::<BackendApi>().unwrap(), api);
        }
        assert_eq!(BackendApi::of(wgpu::Backend::Gl), Some(BackendApi::Gl));
        assert_eq!(BackendApi::of(wgpu::Backend::Noop), None);
    }

    #[test]
    fn lists_parse_and_bad_names_are_errors() {
        assert_eq!(
            BackendApi::parse_list("gl, vulkan,gl").unwrap(),
            [BackendApi::Gl, BackendApi::Vulkan]
        );
        let err = BackendApi::parse_list("vulkan,webgl")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "unknown backend API 'webgl' (expected one of vulkan, gl, metal, dx12)"
        );
        assert!(BackendApi::parse_list("").is_err());
        assert_eq!(
            backends(&[BackendApi::Gl, BackendApi::Vulkan]).unwrap(),
            wgpu::Backends::GL | wgpu::Backends::VULKAN
        );
    }
}
