//! Choosing an adapter and the errors when none fits, as rendered.

mod common;

use common::gpu;
use kiln_runtime::{Runtime, RuntimeError, RuntimeOptions, Session};

#[test]
fn adapter_is_chosen_by_name_ignoring_case() {
    let name = gpu().adapter_info().name.to_uppercase();
    let rt = Runtime::new(&RuntimeOptions {
        adapter: Some(name),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(rt.adapter_info().name, gpu().adapter_info().name);
    assert!(rt.describe().starts_with(&rt.adapter_info().name));
}

#[test]
fn unknown_adapter_name_lists_the_available_ones() {
    let options = RuntimeOptions {
        adapter: Some("no such adapter".into()),
        ..Default::default()
    };
    let err = Runtime::new(&options)
        .err()
        .expect("no adapter has that name");
    let msg = err.to_string();
    assert!(
        msg.starts_with("no adapter name contains 'no such adapter'; available: "),
        "{msg}"
    );
    assert!(msg.contains(&gpu().describe()), "{msg}");
}

#[test]
fn no_adapter_says_how_to_get_one() {
    let err = RuntimeError::NoAdapter {
        backends: "Backends(VULKAN)".into(),
    };
    assert_eq!(
        err.to_string(),
        "no GPU adapter found (backends: Backends(VULKAN)); on Linux without a GPU, install Mesa's \
         CPU drivers: apt-get install mesa-vulkan-drivers (Vulkan), libegl1 libegl-mesa0 \
         libgl1-mesa-dri (GL)"
    );
}

#[test]
fn limits_are_at_least_webgpu_defaults() {
    let limits = gpu().limits();
    let defaults = kiln_codegen::Limits::default();
    assert!(
        limits.max_storage_buffers_per_shader_stage
            >= defaults.max_storage_buffers_per_shader_stage
    );
    assert!(
        limits.max_compute_workgroups_per_dimension
            >= defaults.max_compute_workgroups_per_dimension
    );
}

#[test]
fn runtime_and_sessions_cross_threads() {
    fn shared<T: Send + Sync>() {}
    fn sent<T: Send>() {}
    shared::<Runtime>();
    sent::<Session>();
}
