//! The config loader: any text is either a config or errors, each naming
//! `file:line:column`; never a panic, a hang or an unbounded allocation.
#![no_main]

use std::path::Path;

use ixn::config::{Config, ConfigError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match Config::parse(Path::new("/fuzz/ixn.toml"), text) {
        Ok(_) => {}
        Err(e) => {
            let shown = e.to_string();
            assert!(!shown.is_empty(), "an empty error");
            if let ConfigError::Invalid { .. } = e {
                assert!(
                    shown.contains("ixn.toml:"),
                    "an error without its place: {shown}"
                );
            }
        }
    }
});
