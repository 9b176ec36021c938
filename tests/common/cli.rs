//! A temp dir to run the `kiln` binary in: the built-in example model (`example.onnx`)
//! and its input (`x.npy`), and an XDG_RUNTIME_DIR of its own for wgpu.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The directory the CLI tests run `kiln` in.
pub struct CliDir {
    pub dir: tempfile::TempDir,
}

impl CliDir {
    /// A fresh directory holding `example.onnx`, `x.npy` and `xdg/`.
    pub fn new() -> CliDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("xdg")).unwrap();
        std::fs::write(dir.path().join("example.onnx"), kiln::EXAMPLE_ONNX).unwrap();
        let mut file = std::fs::File::create(dir.path().join("x.npy")).unwrap();
        kiln::npy::write_npy(&mut file, &kiln::example_input(), kiln::Wide::No).unwrap();
        CliDir { dir }
    }

    /// `name` inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `kiln ARGS` in the directory.
    pub fn kiln(&self, args: &[&str]) -> Output {
        self.kiln_env(args, &[])
    }

    /// Runs `kiln ARGS` in the directory with extra environment variables.
    pub fn kiln_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("XDG_RUNTIME_DIR", self.path("xdg"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// Runs `kiln ARGS`, which must fail with exit status 2 and one `error:` line,
    /// printing nothing on stdout; returns that line.
    pub fn usage_error(&self, args: &[&str]) -> String {
        let out = self.kiln(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "kiln {args:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line expected: {stderr}");
        assert!(lines[0].starts_with("error: "), "{stderr}");
        assert!(
            out.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        lines[0].to_string()
    }

    /// Runs `kiln ARGS`, which must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kiln(args);
        assert!(
            out.status.success(),
            "kiln {args:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}
