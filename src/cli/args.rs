//! Parsing of `--shape NAME=DIMS` and `--input [NAME=]PATH`, and matching inputs to
//! the model's (or a bundle's) inputs.

use super::usage;
use anyhow::{Context, Result};
use kiln::{HostTensor, Model};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `NAME=DIMS` with dims separated by `x` or `,` (`data=1x3x224x224`).
pub fn parse_shape(spec: &str) -> Result<(String, Vec<usize>)> {
    let bad = |why: &str| {
        usage(format!(
            "bad --shape '{spec}': {why}; expected NAME=DIMS such as data=1x3x224x224"
        ))
    };
    let (name, dims) = spec.split_once('=').ok_or_else(|| bad("no '='"))?;
    if name.is_empty() {
        return Err(bad("empty input name"));
    }
    let dims = if dims.is_empty() {
        Vec::new()
    } else {
        dims.split(['x', 'X', ','])
            .map(|d| {
                d.trim()
                    .parse::<usize>()
                    .map_err(|_| bad(&format!("'{d}' is not a dimension")))
            })
            .collect::<Result<Vec<_>>>()?
    };
    Ok((name.to_string(), dims))
}

/// The `--shape` options as a map, checking each name is a model input.
pub fn shapes(model: &Model, specs: &[String]) -> Result<BTreeMap<String, Vec<usize>>> {
    let parsed = specs
        .iter()
        .map(|spec| parse_shape(spec))
        .collect::<Result<Vec<_>>>()?;
    Ok(kiln::model_shapes(model, parsed)?)
}

/// Reads the `--input` files and assigns each to a model input: `NAME=PATH` by name,
/// a bare `PATH` to the next model input not named explicitly, in order.
pub fn inputs(model: &Model, specs: &[String]) -> Result<BTreeMap<String, HostTensor>> {
    inputs_for(&input_names(model), specs)
}

/// Like [`inputs`] for inputs named `names` (a bundle's plan inputs).
pub fn inputs_for(names: &[String], specs: &[String]) -> Result<BTreeMap<String, HostTensor>> {
    let mut named: Vec<(String, PathBuf)> = Vec::new();
    let mut positional: Vec<PathBuf> = Vec::new();
    for spec in specs {
        match spec.split_once('=') {
            Some((name, path)) if names.iter().any(|n| n == name) => {
                named.push((name.to_string(), PathBuf::from(path)));
            }
            Some((name, _)) if !std::path::Path::new(spec).exists() => {
                return Err(usage(format!(
                    "--input '{spec}': the model has no input named '{name}' (inputs: {})",
                    names.join(", ")
                )));
            }
            _ => positional.push(PathBuf::from(spec)),
        }
    }
    let mut assigned: Vec<(String, PathBuf)> = Vec::new();
    for (name, path) in named {
        if assigned.iter().any(|(n, _)| *n == name) {
            return Err(usage(format!("--input gives '{name}' twice")));
        }
        assigned.push((name, path));
    }
    let free: Vec<String> = names
        .iter()
        .filter(|n| !assigned.iter().any(|(a, _)| a == *n))
        .cloned()
        .collect();
    if positional.len() > free.len() {
        return Err(usage(format!(
            "{} unnamed --input files given but only {} model inputs are left to match them \
             (inputs: {})",
            positional.len(),
            free.len(),
            names.join(", ")
        )));
    }
    assigned.extend(free.into_iter().zip(positional));
    let mut tensors = BTreeMap::new();
    for (name, path) in assigned {
        let tensor = kiln::read_tensor_file(&path).with_context(|| format!("input '{name}'"))?;
        tensors.insert(name, tensor);
    }
    Ok(tensors)
}

/// The model's graph input names, in order.
fn input_names(model: &Model) -> Vec<String> {
    model.inputs().into_iter().map(|i| i.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Model {
        kiln::load_onnx_bytes(kiln::EXAMPLE_ONNX).unwrap()
    }

    #[test]
    fn inputs_are_matched_by_name_or_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        let mut file = std::fs::File::create(&path).unwrap();
        kiln::npy::write_npy(&mut file, &kiln::example_input(), kiln::Wide::No).unwrap();
        let path = path.display().to_string();

        let by_position = inputs(&example(), std::slice::from_ref(&path)).unwrap();
        assert_eq!(by_position.keys().collect::<Vec<_>>(), ["image"]);
        assert_eq!(by_position["image"].tensor, kiln::example_input());
        let by_name = inputs(&example(), &[format!("image={path}")]).unwrap();
        assert_eq!(by_name, by_position);

        let err = inputs(&example(), &[format!("img={path}")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!("--input 'img={path}': the model has no input named 'img' (inputs: image)")
        );
        let err = inputs(&example(), &[path.clone(), path.clone()])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("2 unnamed --input files given but only 1 model inputs"),
            "{err}"
        );
        let err = shapes(&example(), &["data=1x3".to_string()])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "--shape names 'data', which is not an input of the model (inputs: image)"
        );
    }

    #[test]
    fn shapes_parse() {
        assert_eq!(
            parse_shape("data=1x3x224x224").unwrap(),
            ("data".into(), vec![1, 3, 224, 224])
        );
        assert_eq!(parse_shape("n=7").unwrap(), ("n".into(), vec![7]));
        assert_eq!(parse_shape("s=").unwrap(), ("s".into(), vec![]));
        assert_eq!(parse_shape("a=2,3").unwrap(), ("a".into(), vec![2, 3]));
        let err = parse_shape("data=1xfoo").unwrap_err().to_string();
        assert_eq!(
            err,
            "bad --shape 'data=1xfoo': 'foo' is not a dimension; expected NAME=DIMS such as data=1x3x224x224"
        );
        assert!(parse_shape("1x3").is_err());
        assert!(parse_shape("=1x3").is_err());
    }
}
