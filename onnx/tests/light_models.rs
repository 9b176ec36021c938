//! The "light" models shipped in the `onnx` wheel import, with the output type of
//! their reference output.

use kiln_onnx::{decode_tensor, import, ImportOptions, Model};
use std::path::PathBuf;

fn light_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("KILN_ONNX_LIGHT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            "/work/venv/lib/python3.11/site-packages/onnx/backend/test/data/light".into()
        });
    dir.is_dir().then_some(dir)
}

#[test]
fn light_models_import() {
    let Some(dir) = light_dir() else {
        eprintln!("light models not found; skipping");
        return;
    };
    let names = [
        "resnet50",
        "squeezenet",
        "densenet121",
        "inception_v1",
        "inception_v2",
        "shufflenet",
        "vgg19",
        "bvlc_alexnet",
        "zfnet512",
    ];
    for name in names {
        let model = Model::load(dir.join(format!("light_{name}.onnx"))).unwrap();
        let g = import(&model, &ImportOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        kiln_ir::verify::verify(&g).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want =
            decode_tensor(&std::fs::read(dir.join(format!("light_{name}_output_0.pb"))).unwrap())
                .unwrap();
        assert_eq!(*g.ty(g.outputs[0].value), want.tensor.ty(), "{name}");
    }
}
