//! `hostile-membomb`: a misbehaving BP component for the host's tests.
//!
//! For an interaction whose `Subject` property contains `grow`, `handle` allocates
//! memory without bound, 1 MiB at a time, writing to every page so that the memory
//! is really used. Once the host's memory limit refuses to grow the linear memory,
//! the allocation fails and the component aborts: the call traps. The host must send
//! only that interaction to the business process's error queue and replace the
//! instance.
//!
//! For a `Subject` containing `leak`, `handle` leaks 2 MiB (touched, never freed)
//! and stops with `ok`: a slow leak that only instance recycling
//! (`recycle-after-calls`) keeps under the memory limit.
//!
//! Every other interaction stops with the reason `ok`.
//!
//! World: `business-process`. Config keys: none.

wit_bindgen::generate!({
    // Built against the first contract on purpose: the host must keep loading
    // components of ixn:bp@0.1.0 (see wit/bp-0.1.0).
    path: "../../../wit/bp-0.1.0",
    world: "business-process",
});

use core::hint::black_box;
use ixn::bp::types::{Action, Value};

struct HostileMembomb;

impl Guest for HostileMembomb {
    fn handle(interaction: Interaction, _context: ViewContext) -> Result<Decision, String> {
        if subject(&interaction).contains("grow") {
            grow_forever();
        }
        if subject(&interaction).contains("leak") {
            leak_a_little();
        }
        Ok(Decision {
            action: Action::Stop("ok".to_string()),
            set_properties: Vec::new(),
            remove_properties: Vec::new(),
        })
    }
}

/// Allocates 1 MiB blocks and keeps them all, until allocation fails.
fn grow_forever() -> ! {
    const BLOCK: usize = 1 << 20;
    // Smaller than a WebAssembly page (64 KiB): writing at this stride touches them all.
    const STRIDE: usize = 4096;

    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; BLOCK];
        for byte in block.iter_mut().step_by(STRIDE) {
            *byte = 0xA5;
        }
        hoard.push(block);
        // `black_box` keeps the optimiser from proving the blocks unused and
        // removing the allocations.
        black_box(&hoard);
    }
}

/// Leaks 2 MiB of touched memory: it stays allocated for the instance's lifetime.
fn leak_a_little() {
    const LEAK: usize = 2 << 20;
    let block: &'static mut [u8] = Vec::leak(vec![0u8; LEAK]);
    for byte in block.iter_mut().step_by(4096) {
        *byte = 0x5A;
    }
    black_box(block);
}

/// The `Subject` property, or `""` when it is missing or not a string.
fn subject(interaction: &Interaction) -> &str {
    interaction
        .properties
        .iter()
        .find(|p| p.key == "Subject")
        .and_then(|p| match &p.value {
            Value::Str(s) => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or("")
}

export!(HostileMembomb);
