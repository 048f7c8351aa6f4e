//! Drift test: the Rust mirrors in `ixn_plugin_api::{storage, sink}` against
//! the WIT packages they mirror (`wit/storage`, `wit/sink`).
//!
//! Every type defined in interface `types` of each package must have a Rust
//! mirror of the same WIT name and exactly the same shape: record fields,
//! variant cases and enum cases, by name, in order, with their types written
//! as WIT writes them. A WIT type without a mirror, a mirror without a WIT
//! type, and a module `CONTRACT` that is not the package's name fail too.
//! Every mismatch is reported at once, naming the package, type and field.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ixn_plugin_api::mirror::{Shape, WitShape, WitType};
use ixn_plugin_api::{sink, storage};
use wit_parser::{Handle, Resolve, Type, TypeDef, TypeDefKind, TypeOwner};

/// One Rust mirror type, as the checker sees it.
struct Mirror {
    /// The Rust path of the type, for messages.
    rust: &'static str,
    /// The WIT name it claims to mirror.
    wit_name: &'static str,
    /// Its fields or cases.
    shape: Shape,
}

/// Describes a mirror type; also checks that its two spellings of its WIT name agree.
fn mirror_of<T: WitShape>() -> Mirror {
    let rust = std::any::type_name::<T>();
    assert_eq!(
        T::wit_name(),
        T::WIT_NAME,
        "{rust}: `WitType::wit_name()` and `WitShape::WIT_NAME` differ"
    );
    Mirror {
        rust,
        wit_name: T::WIT_NAME,
        shape: T::shape(),
    }
}

/// Every `wit_record!`/`wit_variant!`/`wit_enum!` type of `storage.rs`.
/// A new mirror type must be added here (the test fails if its WIT type is not).
fn storage_mirrors() -> Vec<Mirror> {
    use storage::*;
    vec![
        mirror_of::<Value>(),
        mirror_of::<Property>(),
        mirror_of::<State>(),
        mirror_of::<Interaction>(),
        mirror_of::<NewInteraction>(),
        mirror_of::<FieldType>(),
        mirror_of::<CustomField>(),
        mirror_of::<OpenSettings>(),
        mirror_of::<Literal>(),
        mirror_of::<CompareOp>(),
        mirror_of::<ExprNode>(),
        mirror_of::<Condition>(),
        mirror_of::<OrderBy>(),
        mirror_of::<ClaimRequest>(),
        mirror_of::<Outcome>(),
        mirror_of::<DecisionRecord>(),
        mirror_of::<ApplyOutcome>(),
        mirror_of::<QueueCount>(),
        mirror_of::<ConvertProgress>(),
        mirror_of::<Recovered>(),
        mirror_of::<WorkNotice>(),
        mirror_of::<ErrorKind>(),
        mirror_of::<StorageError>(),
        mirror_of::<SettingProblem>(),
    ]
}

/// Every `wit_record!`/`wit_variant!`/`wit_enum!` type of `sink.rs`.
fn sink_mirrors() -> Vec<Mirror> {
    use sink::*;
    vec![
        mirror_of::<Value>(),
        mirror_of::<Field>(),
        mirror_of::<EventRecord>(),
        mirror_of::<ErrorKind>(),
        mirror_of::<SinkError>(),
        mirror_of::<SettingProblem>(),
    ]
}

/// Parses one package directory under `wit/`.
fn load(dir: &str) -> (Resolve, wit_parser::PackageId) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../wit")
        .join(dir);
    let mut resolve = Resolve::default();
    let (package, _sources) = resolve
        .push_dir(&path)
        .unwrap_or_else(|e| panic!("parsing {}: {e:?}", path.display()));
    (resolve, package)
}

/// A WIT type as WIT source writes it: named types by name, anonymous ones spelled out.
fn render(resolve: &Resolve, ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::U8 => "u8".into(),
        Type::U16 => "u16".into(),
        Type::U32 => "u32".into(),
        Type::U64 => "u64".into(),
        Type::S8 => "s8".into(),
        Type::S16 => "s16".into(),
        Type::S32 => "s32".into(),
        Type::S64 => "s64".into(),
        Type::F32 => "f32".into(),
        Type::F64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::ErrorContext => "error-context".into(),
        Type::Id(id) => render_def(resolve, &resolve.types[*id]),
    }
}

/// A type definition as a reference to it is written.
fn render_def(resolve: &Resolve, def: &TypeDef) -> String {
    if let Some(name) = &def.name {
        return name.clone();
    }
    let r = |t: &Type| render(resolve, t);
    let named = |id: &wit_parser::TypeId| render_def(resolve, &resolve.types[*id]);
    match &def.kind {
        TypeDefKind::List(t) => format!("list<{}>", r(t)),
        TypeDefKind::FixedLengthList(t, n) => format!("list<{}, {n}>", r(t)),
        TypeDefKind::Option(t) => format!("option<{}>", r(t)),
        TypeDefKind::Map(k, v) => format!("map<{}, {}>", r(k), r(v)),
        TypeDefKind::Tuple(t) => format!(
            "tuple<{}>",
            t.types.iter().map(r).collect::<Vec<_>>().join(", ")
        ),
        TypeDefKind::Result(res) => match (&res.ok, &res.err) {
            (None, None) => "result".into(),
            (Some(ok), None) => format!("result<{}>", r(ok)),
            (None, Some(err)) => format!("result<_, {}>", r(err)),
            (Some(ok), Some(err)) => format!("result<{}, {}>", r(ok), r(err)),
        },
        TypeDefKind::Handle(Handle::Own(id)) => format!("own<{}>", named(id)),
        TypeDefKind::Handle(Handle::Borrow(id)) => format!("borrow<{}>", named(id)),
        TypeDefKind::Future(t) => t
            .as_ref()
            .map_or("future".into(), |t| format!("future<{}>", r(t))),
        TypeDefKind::Stream(t) => t
            .as_ref()
            .map_or("stream".into(), |t| format!("stream<{}>", r(t))),
        TypeDefKind::Type(t) => r(t),
        other => format!("<anonymous {}>", other.as_str()),
    }
}

/// The shape of a WIT type definition, in the terms of [`Shape`].
fn wit_shape(resolve: &Resolve, def: &TypeDef) -> Result<Shape, String> {
    match &def.kind {
        TypeDefKind::Record(record) => Ok(Shape::Record(
            record
                .fields
                .iter()
                .map(|f| (f.name.clone(), render(resolve, &f.ty)))
                .collect(),
        )),
        TypeDefKind::Variant(variant) => Ok(Shape::Variant(
            variant
                .cases
                .iter()
                .map(|c| (c.name.clone(), c.ty.as_ref().map(|t| render(resolve, t))))
                .collect(),
        )),
        TypeDefKind::Enum(e) => Ok(Shape::Enum(
            e.cases.iter().map(|c| c.name.clone()).collect(),
        )),
        other => Err(format!(
            "is a WIT {}, which the mirror macros cannot describe (only record, variant and enum)",
            other.as_str()
        )),
    }
}

/// One field or case: its name, its type (`none` for a case without payload,
/// empty for an enum case) and the whole member as WIT writes it.
struct Member {
    name: String,
    ty: String,
    text: String,
}

/// A shape as (kind, what its members are called, its members).
fn members(shape: &Shape) -> (&'static str, &'static str, Vec<Member>) {
    match shape {
        Shape::Record(fields) => (
            "record",
            "field",
            fields
                .iter()
                .map(|(n, t)| Member {
                    name: n.clone(),
                    ty: t.clone(),
                    text: format!("{n}: {t}"),
                })
                .collect(),
        ),
        Shape::Variant(cases) => (
            "variant",
            "case",
            cases
                .iter()
                .map(|(n, t)| match t {
                    Some(t) => Member {
                        name: n.clone(),
                        ty: t.clone(),
                        text: format!("{n}({t})"),
                    },
                    None => Member {
                        name: n.clone(),
                        ty: "none".into(),
                        text: n.clone(),
                    },
                })
                .collect(),
        ),
        Shape::Enum(cases) => (
            "enum",
            "case",
            cases
                .iter()
                .map(|n| Member {
                    name: n.clone(),
                    ty: String::new(),
                    text: n.clone(),
                })
                .collect(),
        ),
    }
}

/// The differences between a WIT type and its mirror, one readable line each.
fn compare(package: &str, mirror: &Mirror, wit: &Shape) -> Vec<String> {
    let at = format!(
        "{package}: type `{}` (Rust `{}`)",
        mirror.wit_name, mirror.rust
    );
    let (wit_kind, noun, wit_members) = members(wit);
    let (rust_kind, _, rust_members) = members(&mirror.shape);
    if wit_kind != rust_kind {
        return vec![format!(
            "{at}: WIT defines a {wit_kind}, the Rust mirror is a {rust_kind}"
        )];
    }
    let mut problems = Vec::new();
    for i in 0..wit_members.len().max(rust_members.len()) {
        match (wit_members.get(i), rust_members.get(i)) {
            (Some(w), Some(r)) if w.name == r.name && w.ty != r.ty => problems.push(format!(
                "{at}: {noun} `{}` is `{}` in WIT but `{}` in the Rust mirror",
                w.name, w.ty, r.ty
            )),
            (Some(w), Some(r)) if w.name != r.name => problems.push(format!(
                "{at}: {noun} #{i} is `{}` in WIT but `{}` in the Rust mirror (names or order differ)",
                w.text, r.text
            )),
            (Some(w), None) => problems.push(format!(
                "{at}: {noun} #{i} `{}` is missing from the Rust mirror",
                w.text
            )),
            (None, Some(r)) => problems.push(format!(
                "{at}: {noun} #{i} `{}` of the Rust mirror is not in WIT",
                r.text
            )),
            _ => {}
        }
    }
    problems
}

/// Checks one WIT package against a module's `CONTRACT` and mirror list.
fn check_package(dir: &str, contract: &str, mirrors: Vec<Mirror>) {
    let (resolve, package_id) = load(dir);
    let package = &resolve.packages[package_id];
    let name = package.name.to_string();
    let mut problems = Vec::new();
    if name != contract {
        problems.push(format!(
            "wit/{dir} is package `{name}`, but the Rust module's CONTRACT is `{contract}`"
        ));
    }

    let mut by_name: BTreeMap<&str, &Mirror> = BTreeMap::new();
    for m in &mirrors {
        if let Some(first) = by_name.insert(m.wit_name, m) {
            problems.push(format!(
                "{name}: WIT type `{}` has two Rust mirrors, `{}` and `{}`",
                m.wit_name, first.rust, m.rust
            ));
        }
    }

    let types_id = *package
        .interfaces
        .get("types")
        .unwrap_or_else(|| panic!("{name} (wit/{dir}) has no interface `types`"));
    let types = &resolve.interfaces[types_id];
    assert!(
        !types.types.is_empty(),
        "{name}: interface `types` defines no types; is wit/{dir} parsed right?"
    );
    for (type_name, &id) in &types.types {
        let def = &resolve.types[id];
        let Some(mirror) = by_name.remove(type_name.as_str()) else {
            problems.push(format!(
                "{name}: WIT type `{type_name}` ({}) has no Rust mirror (define it with the mirror \
                 macros and add it to this test's list)",
                def.kind.as_str()
            ));
            continue;
        };
        match wit_shape(&resolve, def) {
            Ok(shape) => problems.extend(compare(&name, mirror, &shape)),
            Err(why) => problems.push(format!("{name}: type `{type_name}` {why}")),
        }
    }
    for m in by_name.values() {
        problems.push(format!(
            "{name}: Rust mirror `{}` names WIT type `{}`, which interface `types` does not define",
            m.rust, m.wit_name
        ));
    }

    // Types belong in `types`: the other interfaces may only `use` them, so a
    // record added to, say, `backend` cannot slip past the list above.
    for (iface_name, &iface_id) in &package.interfaces {
        if iface_id == types_id {
            continue;
        }
        for (type_name, &id) in &resolve.interfaces[iface_id].types {
            let used_from_types = match &resolve.types[id].kind {
                TypeDefKind::Type(Type::Id(target)) => {
                    resolve.types[*target].owner == TypeOwner::Interface(types_id)
                }
                _ => false,
            };
            if !used_from_types {
                problems.push(format!(
                    "{name}: interface `{iface_name}` defines type `{type_name}` itself; \
                     define it in `types` and mirror it"
                ));
            }
        }
    }

    assert!(
        problems.is_empty(),
        "wit/{dir} and its Rust mirrors differ:\n  - {}",
        problems.join("\n  - ")
    );
}

#[test]
fn storage_mirrors_match_wit() {
    check_package("storage", storage::CONTRACT, storage_mirrors());
}

/// The 0.3.0 plugins a host still loads (`storage::COMPATIBLE`) exchange
/// the same types: every 0.3.0 type is today's, only `work-notice` (and its
/// method) came later, so postcard encodes both alike.
#[test]
fn storage_0_3_0_types_are_todays() {
    assert_eq!(storage::COMPATIBLE, ["ixn:storage@0.3.0"]);
    let mirrors = storage_mirrors()
        .into_iter()
        .filter(|m| m.wit_name != "work-notice")
        .collect();
    check_package("storage-0.3.0", "ixn:storage@0.3.0", mirrors);
}

#[test]
fn sink_mirrors_match_wit() {
    check_package("sink", sink::CONTRACT, sink_mirrors());
}

/// The checker itself reports a changed field by type and field name.
#[test]
fn checker_names_type_and_field() {
    let mut wrong = mirror_of::<storage::Recovered>();
    wrong.shape = Shape::Record(vec![
        ("id".into(), "string".into()),
        ("queue".into(), "s64".into()),
    ]);
    let (resolve, package) = load("storage");
    let types = resolve.packages[package].interfaces["types"];
    let def = &resolve.types[resolve.interfaces[types].types["recovered"]];
    let shape = wit_shape(&resolve, def).expect("`recovered` is a record");
    let problems = compare("ixn:storage@0.3.0", &wrong, &shape);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].contains("type `recovered`")
            && problems[0].contains("field `queue`")
            && problems[0].contains("`string` in WIT but `s64`"),
        "{}",
        problems[0]
    );

    wrong.shape = Shape::Variant(vec![("id".into(), None)]);
    let problems = compare("ixn:storage@0.3.0", &wrong, &shape);
    assert!(
        problems[0].contains("WIT defines a record, the Rust mirror is a variant"),
        "{problems:#?}"
    );
}

/// Anonymous types render the way WIT source spells them.
#[test]
fn renders_nested_anonymous_types() {
    let (resolve, package) = load("storage");
    let types = resolve.packages[package].interfaces["types"];
    let iface = &resolve.interfaces[types];
    let field_types = |record: &str| match wit_shape(&resolve, &resolve.types[iface.types[record]])
    {
        Ok(Shape::Record(fields)) => fields,
        other => panic!("`{record}` is not a record: {other:?}"),
    };
    assert_eq!(
        field_types("open-settings")[1],
        ("custom-fields".into(), "list<custom-field>".into())
    );
    assert_eq!(
        field_types("claim-request")[2],
        ("condition".into(), "option<condition>".into())
    );
    assert_eq!(
        <Vec<(String, String)> as WitType>::wit_name(),
        "list<tuple<string, string>>"
    );
}
