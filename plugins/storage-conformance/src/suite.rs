//! [`conformance_suite!`](crate::conformance_suite): the whole suite as
//! `#[test]` functions in a backend's test binary, and the check that it
//! lists every suite test.

/// One `#[test]` per suite test, named after it, each running the test on
/// the harness that `$harness` makes.
///
/// ```ignore
/// mod conformance {
///     ixn_storage_conformance::conformance_suite!(crate::harness::SqliteHarness::new());
/// }
/// ```
///
/// A suite test that is not listed here runs for no backend: the unit test
/// `suite::tests::the_macro_lists_every_suite_test` fails until it is.
#[macro_export]
macro_rules! conformance_suite {
    ($harness:expr) => {
        $crate::conformance_suite!(@tests $harness;
            submit::round_trip_with_custom_fields_and_non_latin_text,
            submit::custom_fields_have_typed_columns,
            submit::duplicate_id_stores_nothing,
            submit::too_long_custom_text_is_refused_and_nothing_stored,
            submit::wrong_custom_type_is_refused,
            submit::adding_a_custom_field_on_reopen_keeps_the_data,
            claim::conditions,
            claim::injection_in_a_string_literal_matches_literally,
            claim::bad_conditions_are_permanent_errors_and_claim_nothing,
            claim::order_by_priority_desc_then_id,
            claim::claim_respects_queue_state_schedule_and_limit,
            claim::lease_expiry_puts_interactions_back,
            claim::counts_per_queue_and_state,
            claim::a_removed_queue_moves_live_interactions_with_their_leases_ended,
            apply::move_stop_release_with_property_changes,
            apply::wrong_owner_changes_nothing,
            apply::a_bad_property_refuses_only_its_record,
            convert::a_new_field_takes_its_column_live_and_old_values_wait_for_the_conversion,
            convert::a_change_that_would_hide_or_break_stored_values_is_refused_and_changes_nothing,
            convert::a_to_delete_field_writes_to_the_blob_and_the_conversion_empties_its_column,
            convert::the_conversion_resumes_after_its_checkpoint_and_a_reset_starts_over,
            faults::release_leases_gives_back_one_owners_work_only,
            faults::stopped_counts_are_kept_per_queue,
            concurrency::concurrent_claimers_never_share_an_interaction,
            concurrency::callable_from_spawn_blocking_of_another_runtime,
            open::bad_custom_fields_are_refused,
            notices::work_placed_by_another_instance_is_told_by_queue,
        );
    };
    (@tests $harness:expr; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let harness = $harness;
                if let Some(why) = $crate::Harness::skip_reason(&harness) {
                    eprintln!("skipped: {why}");
                    return;
                }
                $crate::$module::$name(&harness)
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    /// The suite's modules and their sources. A new module goes here too: the
    /// test checks `lib.rs` declares no other.
    const MODULES: [(&str, &str); 8] = [
        ("apply", include_str!("apply.rs")),
        ("claim", include_str!("claim.rs")),
        ("concurrency", include_str!("concurrency.rs")),
        ("convert", include_str!("convert.rs")),
        ("faults", include_str!("faults.rs")),
        ("notices", include_str!("notices.rs")),
        ("open", include_str!("open.rs")),
        ("submit", include_str!("submit.rs")),
    ];

    /// Modules of `lib.rs` that hold no suite tests.
    const NOT_SUITE: [&str; 3] = ["common", "harness", "suite"];

    /// `module::name` of every `pub fn name<H: Harness>(…)` of the suite's modules.
    fn defined() -> Vec<String> {
        let mut names = Vec::new();
        for (module, source) in MODULES {
            for line in source.lines() {
                let Some(rest) = line.strip_prefix("pub fn ") else {
                    continue;
                };
                let (name, _) = rest
                    .split_once('<')
                    .unwrap_or_else(|| panic!("{module}: `{line}` is not generic over a Harness"));
                names.push(format!("{module}::{name}"));
            }
        }
        names.sort();
        names
    }

    /// `module::name` of every test the macro lists.
    fn listed() -> Vec<String> {
        let source = include_str!("suite.rs");
        let start = source.find("@tests $harness;").unwrap();
        let end = start + source[start..].find(");").unwrap();
        let mut names: Vec<String> = source[start..end]
            .lines()
            .skip(1)
            .map(|l| l.trim().trim_end_matches(',').to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_macro_lists_every_suite_test() {
        let (defined, listed) = (defined(), listed());
        assert!(defined.len() >= 26, "{defined:?}");
        let missing: Vec<_> = defined.iter().filter(|d| !listed.contains(d)).collect();
        let unknown: Vec<_> = listed.iter().filter(|l| !defined.contains(l)).collect();
        assert!(
            missing.is_empty() && unknown.is_empty(),
            "conformance_suite! lacks {missing:?} and lists {unknown:?}, which no module defines"
        );
        assert_eq!(listed, defined, "each listed once");
    }

    #[test]
    fn every_module_of_the_crate_is_scanned() {
        let declared: Vec<&str> = include_str!("lib.rs")
            .lines()
            .filter_map(|l| l.trim_start_matches("pub ").strip_prefix("mod "))
            .map(|l| l.trim_end_matches(';'))
            .filter(|m| !NOT_SUITE.contains(m))
            .collect();
        let scanned: Vec<&str> = MODULES.iter().map(|(m, _)| *m).collect();
        assert_eq!(declared, scanned);
    }
}
