//! The "light" models shipped in the `onnx` wheel import, with the output type of
//! their reference output.

use kiln_onnx::{decode_tensor, import, ImportOptions, Model};
#[test]
fn light_models_import() {
    let Some(dir) = kiln_testdata::data_dir("light", "light_models_import") else {
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
        let model = Model::load(dir.join(name).join("model.onnx")).unwrap();
        let g = import(&model, &ImportOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        kiln_ir::verify::verify(&g).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = decode_tensor(
            &std::fs::read(dir.join(name).join("test_data_set_0/output_0.pb")).unwrap(),
        )
        .unwrap();
        assert_eq!(*g.ty(g.outputs[0].value), want.tensor.ty(), "{name}");
    }
}
