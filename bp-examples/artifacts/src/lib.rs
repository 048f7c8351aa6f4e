//! Paths of the WebAssembly business-process (BP) components in
//! `bp-examples/components`, built from source by this crate's build script.
//!
//! The build script runs
//!
//! ```text
//! cargo build --release --target wasm32-wasip2 \
//!     --manifest-path bp-examples/components/Cargo.toml \
//!     --target-dir <target>/bp-components
//! ```
//!
//! where `<target>` is `$CARGO_TARGET_DIR` if set, else `<workspace root>/target`.
//! The components therefore sit at the stable path
//! `<target>/bp-components/wasm32-wasip2/release/<crate>.wasm` (a `-` in a package
//! name becomes `_` in the file name), which config files can point at, and the
//! constants below name them, so that a test can never load a stale or missing
//! `.wasm`: the build reruns whenever a component's source, the components'
//! `Cargo.toml`/`Cargo.lock` or `wit/bp` changes, and fails if a component does not
//! build.
//!
//! | constant          | component                | world                        |
//! |-------------------|--------------------------|------------------------------|
//! | `CLASSIFIER`      | sample step 1            | `business-process-with-init` |
//! | `ROUTER`          | sample step 2            | `business-process`           |
//! | `SECOND_LOOK`     | keeps once, then stops   | `business-process`           |
//! | `HOSTILE_TRAP`    | traps on Subject `boom`  | `business-process`           |
//! | `HOSTILE_ENDLESS` | loops on Subject `spin`  | `business-process`           |
//! | `HOSTILE_MEMBOMB` | grows on Subject `grow`  | `business-process`           |
//! | `HOSTILE_ERR`     | `err` on Subject `refuse`| `business-process`           |
//!
//! Each component's own documentation (its `src/lib.rs`) describes its config keys,
//! the attached data it reads and sets, and its decisions. `COMPONENTS_DIR` is the
//! folder they are all in, and `ALL` lists them as (package name, path).
//!
//! Every component imports the WASI interfaces Rust's std pulls in (io, cli) but
//! never calls them.

include!(concat!(env!("OUT_DIR"), "/components.rs"));
