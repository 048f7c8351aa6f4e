//! Builds the WebAssembly BP components of `bp-examples/components` and writes
//! `components.rs` into `OUT_DIR`: one `pub const` per component naming its
//! `.wasm` file, which `src/lib.rs` includes.
//!
//! Modelled on wasmtime's `crates/test-programs/artifacts/build.rs`: the components
//! are a workspace of their own, built by a nested `cargo build` whose environment
//! is cleaned of what the outer cargo set for this build script.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The members of `bp-examples/components`. A new component goes here too; each
/// is a `cdylib` whose package name is its folder name.
const COMPONENTS: &[&str] = &[
    "classifier",
    "router",
    "second-look",
    "hostile-trap",
    "hostile-endless",
    "hostile-membomb",
    "hostile-err",
];

/// The target the components are built for. A `cdylib` built for it is already a
/// component: no `wasm-tools component new` step.
const WASM_TARGET: &str = "wasm32-wasip2";

/// Variables the outer cargo (or the user, for the outer build) sets that would
/// change the nested build: flags and wrappers meant for the host target, the
/// outer target and target directory, the outer jobserver, and the values cargo
/// hands this build script about the package being built.
const LEAKY_VARIABLES: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_LINKER",
    "TARGET",
    "HOST",
    "OUT_DIR",
    "PROFILE",
    "OPT_LEVEL",
    "DEBUG",
    "NUM_JOBS",
];

/// Prefixes of further such variables: the outer profile's overrides, and this
/// package's features and target configuration.
const LEAKY_PREFIXES: &[&str] = &["CARGO_PROFILE_", "CARGO_FEATURE_", "CARGO_CFG_"];

fn main() {
    let manifest_dir = PathBuf::from(
        env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR is set by cargo"),
    );
    let workspace_root = manifest_dir
        .join("../..")
        .canonicalize()
        .expect("the workspace root (two levels above bp-examples/artifacts) exists");
    let components_dir = workspace_root.join("bp-examples").join("components");
    let manifest = components_dir.join("Cargo.toml");
    let target_dir = outer_target_dir(&workspace_root).join("bp-components");

    // Rerun when a component's source, the components' workspace or the contract
    // changes. Cargo itself reruns us when this script changes.
    rerun_if_changed(&manifest);
    rerun_if_changed(&components_dir.join("Cargo.lock"));
    for name in COMPONENTS {
        rerun_if_changed(&components_dir.join(name).join("Cargo.toml"));
        rerun_if_changed(&components_dir.join(name).join("src"));
    }
    rerun_if_changed(&workspace_root.join("wit").join("bp"));
    rerun_if_changed(&workspace_root.join("wit").join("bp-0.1.0"));

    build_components(&manifest, &target_dir);

    let release_dir = target_dir.join(WASM_TARGET).join("release");
    let code = generate_constants(&release_dir);
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    fs::write(out_dir.join("components.rs"), code).expect("write OUT_DIR/components.rs");
}

/// The target directory of the outer build: `$CARGO_TARGET_DIR` if set (relative to
/// the workspace root if it is relative), else `<workspace root>/target`.
fn outer_target_dir(workspace_root: &Path) -> PathBuf {
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace_root.join(dir), // no-op if absolute
        _ => workspace_root.join("target"),
    }
}

fn rerun_if_changed(path: &Path) {
    println!("cargo:rerun-if-changed={}", path.display());
}

/// Runs `cargo build --release --target wasm32-wasip2` on the components'
/// workspace, with the cargo that runs this build (`$CARGO`), so the same
/// toolchain builds both.
fn build_components(manifest: &Path, target_dir: &Path) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .arg("--release")
        .arg("--target")
        .arg(WASM_TARGET)
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .arg("--color")
        .arg("never");
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if LEAKY_VARIABLES.contains(&key) || LEAKY_PREFIXES.iter().any(|p| key.starts_with(p)) {
            command.env_remove(key);
        }
    }

    // Shown by `cargo build -vv`.
    eprintln!("running: {command:?}");
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("could not run {command:?}: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        // The target is the usual reason on a fresh machine: rustup does not add
        // the targets rust-toolchain.toml names to a toolchain already installed.
        if stderr.contains("can't find crate for `core`")
            || stderr.contains("can't find crate for `std`")
        {
            panic!(
                "the {WASM_TARGET} target is not installed for this toolchain, and the BP \
                 components are built for it.\nInstall it with `rustup target add {WASM_TARGET}` \
                 (the README's commands do), then build again.\n--- stderr\n{stderr}"
            );
        }
        panic!(
            "building the BP components failed ({}).\ncommand: {command:?}\n--- stderr\n{stderr}",
            output.status,
        );
    }
    eprint!("{stderr}");
}

/// The contents of `components.rs`: a constant per component, after checking that
/// each `.wasm` file exists.
fn generate_constants(release_dir: &Path) -> String {
    let mut code = String::new();
    let mut all = String::new();
    for name in COMPONENTS {
        // Cargo names a library's file after the crate: `-` becomes `_`.
        let wasm = release_dir.join(format!("{}.wasm", name.replace('-', "_")));
        if !wasm.is_file() {
            panic!(
                "the build of the BP components did not produce {}",
                wasm.display()
            );
        }
        let constant = name.replace('-', "_").to_uppercase();
        code += &format!("/// `bp-examples/components/{name}`, built for {WASM_TARGET}.\n");
        code += &format!("pub const {constant}: &str = {:?};\n", utf8(&wasm));
        all += &format!("    ({name:?}, {constant}),\n");
    }
    code += &format!(
        "/// The folder of all components: `<target>/bp-components/{WASM_TARGET}/release`.\n"
    );
    code += &format!(
        "pub const COMPONENTS_DIR: &str = {:?};\n",
        utf8(release_dir)
    );
    code += "/// Every component as (package name, path of its `.wasm` file).\n";
    code += &format!("pub const ALL: &[(&str, &str)] = &[\n{all}];\n");
    code
}

/// `path` as a string: the constants are `&str`.
fn utf8(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("path {} is not UTF-8", path.display()))
}
