//! The submit API's body: any bytes are either an interaction to store or a
//! 4xx saying why; what is accepted holds no NUL and a valid id.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use ixn::api::submit::parse_submission;
use ixn::config::Config;
use libfuzzer_sys::fuzz_target;

/// Two business processes and a custom field, so that queue and process
/// resolution and the property checks are all reachable.
const CONFIG: &str = r#"
[server]

[storage]
plugin = "sqlite"
[storage.settings]
path = "${data-dir}/ixn.db"

[custom-fields]
Category = { column = "category", type = "string(32)" }
Score = { column = "score", type = "integer" }

[strategy.s]
component = "s.wasm"

[[business-process]]
name = "mail"
entry-queue = "mail.In"
error-queue = "mail.Error"
  [[business-process.queue]]
  name = "mail.In"
    [[business-process.queue.view]]
    name = "work"
    strategy = "s"
  [[business-process.queue]]
  name = "mail.Error"

[[business-process]]
name = "chat"
entry-queue = "chat.In"
error-queue = "chat.Error"
  [[business-process.queue]]
  name = "chat.In"
  [[business-process.queue]]
  name = "chat.Error"
"#;

fn config() -> &'static Config {
    static CONFIG_ONCE: OnceLock<Config> = OnceLock::new();
    CONFIG_ONCE.get_or_init(|| {
        Config::parse(Path::new("/fuzz/ixn.toml"), CONFIG)
            .unwrap_or_else(|e| panic!("the fuzz config is invalid: {e}"))
    })
}

fuzz_target!(|body: &[u8]| {
    match parse_submission(body, config(), 1_700_000_000_000) {
        Ok(ix) => {
            assert!(ixn::ids::is_valid_id(&ix.id), "accepted id {:?}", ix.id);
            assert!(
                config().process_of(&ix.queue).is_some(),
                "accepted queue {:?}",
                ix.queue
            );
            let texts = [
                &ix.tenant,
                &ix.media_type,
                &ix.interaction_type,
                &ix.submitted_by,
            ];
            assert!(texts.iter().all(|t| !t.contains('\0')), "a NUL accepted");
            assert!(
                ix.properties.iter().all(|p| !p.key.contains('\0')),
                "a NUL key accepted"
            );
        }
        Err(e) => {
            assert!(e.0.is_client_error(), "{} for a bad body", e.0);
            assert!(!e.1.is_empty(), "an empty error");
        }
    }
});
