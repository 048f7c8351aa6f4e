//! A storage plugin of an earlier contract this host still speaks
//! (`storage::COMPATIBLE`) is loaded and never asked what its contract
//! lacks; one of a contract it does not speak is refused.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::sync::atomic::{AtomicU32, Ordering};

use ixn_plugin_api::abi::{self, AbiMismatch, PluginKind, PluginTable, RawSlice, check_table};
use ixn_plugin_api::storage::{
    ApplyOutcome, ClaimRequest, ConvertProgress, CustomField, DecisionRecord, Interaction,
    MoveQueue, NewInteraction, OpenSettings, QueueCount, Recovered, SettingProblem, StorageBackend,
    StorageClient, StorageError, WorkNotice,
};

/// How often `wait_for_work` reached the plugin.
static WAITS: AtomicU32 = AtomicU32::new(0);

/// A backend that answers `wait-for-work` and nothing else.
struct Waiter;

fn not_here() -> StorageError {
    StorageError::permanent("not part of this test")
}

impl StorageBackend for Waiter {
    fn validate(_: &OpenSettings) -> Vec<SettingProblem> {
        Vec::new()
    }
    fn open(_: OpenSettings) -> Result<Self, StorageError> {
        Ok(Waiter)
    }
    fn submit(&self, _: Vec<NewInteraction>) -> Result<(), StorageError> {
        Err(not_here())
    }
    fn claim(&self, _: ClaimRequest) -> Result<Vec<Interaction>, StorageError> {
        Err(not_here())
    }
    fn apply(&self, _: Vec<DecisionRecord>) -> Result<Vec<ApplyOutcome>, StorageError> {
        Err(not_here())
    }
    fn get(&self, _: String) -> Result<Option<Interaction>, StorageError> {
        Err(not_here())
    }
    fn counts(&self) -> Result<Vec<QueueCount>, StorageError> {
        Err(not_here())
    }
    fn recover_expired(&self, _: i64) -> Result<Vec<Recovered>, StorageError> {
        Err(not_here())
    }
    fn release_leases(&self, _: String) -> Result<Vec<Recovered>, StorageError> {
        Err(not_here())
    }
    fn move_queue(&self, _: MoveQueue) -> Result<Vec<Recovered>, StorageError> {
        Err(not_here())
    }
    fn update_fields(&self, _: Vec<CustomField>) -> Result<(), StorageError> {
        Err(not_here())
    }
    fn convert_start(&self, _: bool) -> Result<ConvertProgress, StorageError> {
        Err(not_here())
    }
    fn convert_step(&self, _: u32) -> Result<ConvertProgress, StorageError> {
        Err(not_here())
    }
    fn wait_for_work(&self, _: u32) -> Result<WorkNotice, StorageError> {
        WAITS.fetch_add(1, Ordering::SeqCst);
        Ok(WorkNotice::Queues(vec!["q".into()]))
    }
}

/// A table of `Waiter` that says it implements `contract`.
const fn table(contract: &'static str) -> PluginTable {
    let mut table = PluginTable::new(
        PluginKind::Storage,
        "waiter",
        abi::storage_validate::<Waiter>,
        abi::storage_open::<Waiter>,
        abi::storage_call::<Waiter>,
    )
    .with_close(abi::storage_close::<Waiter>);
    table.contract = RawSlice::new(contract.as_bytes());
    table
}

static CURRENT: PluginTable = table(ixn_plugin_api::storage::CONTRACT);
static V0_3_0: PluginTable = table("ixn:storage@0.3.0");
static V0_2_0: PluginTable = table("ixn:storage@0.2.0");

fn open(table: &'static PluginTable) -> StorageClient {
    // SAFETY: a static table of this build's layout.
    let table = unsafe { check_table(table, PluginKind::Storage) }.expect("accepted");
    let settings = OpenSettings {
        settings: "{}".into(),
        custom_fields: Vec::new(),
    };
    StorageClient::open(table, &settings, None).expect("opens")
}

#[test]
fn an_older_compatible_plugin_loads_and_is_not_asked_what_it_lacks() {
    // Both in one test: WAITS is shared.
    let old = open(&V0_3_0);
    let before = WAITS.load(Ordering::SeqCst);
    assert_eq!(old.wait_for_work(10).unwrap(), WorkNotice::Unsupported);
    assert_eq!(
        WAITS.load(Ordering::SeqCst),
        before,
        "0.3.0 has no wait-for-work"
    );

    let current = open(&CURRENT);
    assert_eq!(
        current.wait_for_work(10).unwrap(),
        WorkNotice::Queues(vec!["q".into()])
    );
    assert_eq!(WAITS.load(Ordering::SeqCst), before + 1);
}

#[test]
fn a_contract_this_host_does_not_speak_is_refused() {
    // SAFETY: a static table of this build's layout.
    let refused = unsafe { check_table(&V0_2_0, PluginKind::Storage) }.err();
    match refused {
        Some(AbiMismatch::Contract { found, expected }) => {
            assert_eq!(found, "ixn:storage@0.2.0");
            assert_eq!(expected, ixn_plugin_api::storage::CONTRACT);
        }
        other => panic!("expected a contract mismatch, got {other:?}"),
    }
}
