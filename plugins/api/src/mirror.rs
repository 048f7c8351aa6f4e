//! Declares Rust types that mirror WIT types, and describes their shape so a
//! test can compare them with the WIT files.
//!
//! `wit_record!`, `wit_variant!` and `wit_enum!` define the Rust type and an
//! implementation of [`WitShape`]; field and case names are written in Rust
//! style and compared in WIT's kebab-case.

/// The WIT spelling of a Rust type used in a contract (`list<string>`, `option<s64>`…).
pub trait WitType {
    /// The type as WIT writes it.
    fn wit_name() -> String;
}

/// The shape of a named contract type, for the drift test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// A record: field names (kebab-case) and their WIT types.
    Record(Vec<(String, String)>),
    /// A variant: case names and their payload's WIT type, if any.
    Variant(Vec<(String, Option<String>)>),
    /// An enum: case names.
    Enum(Vec<String>),
}

/// A named contract type with a known shape.
pub trait WitShape: WitType {
    /// The WIT name of the type (kebab-case).
    const WIT_NAME: &'static str;
    /// Its fields or cases.
    fn shape() -> Shape;
}

/// `snake_case` or `CamelCase` to WIT's `kebab-case`.
pub fn kebab(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c == '_' {
            out.push('-');
        } else if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

macro_rules! prim {
    ($($t:ty => $n:literal),*) => {$(
        impl WitType for $t { fn wit_name() -> String { $n.to_string() } }
    )*};
}
prim!(String => "string", bool => "bool", u8 => "u8", u16 => "u16", u32 => "u32", u64 => "u64",
      i8 => "s8", i16 => "s16", i32 => "s32", i64 => "s64", f32 => "f32", f64 => "f64");

impl<T: WitType> WitType for Vec<T> {
    fn wit_name() -> String {
        format!("list<{}>", T::wit_name())
    }
}
impl<T: WitType> WitType for Option<T> {
    fn wit_name() -> String {
        format!("option<{}>", T::wit_name())
    }
}
impl<A: WitType, B: WitType> WitType for (A, B) {
    fn wit_name() -> String {
        format!("tuple<{}, {}>", A::wit_name(), B::wit_name())
    }
}
impl<A: WitType, B: WitType, C: WitType> WitType for (A, B, C) {
    fn wit_name() -> String {
        format!(
            "tuple<{}, {}, {}>",
            A::wit_name(),
            B::wit_name(),
            C::wit_name()
        )
    }
}

/// Defines a struct mirroring a WIT record.
#[macro_export]
macro_rules! wit_record {
    ($(#[$m:meta])* $wit:literal pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        pub struct $name { $($(#[$fm])* pub $f: $t),* }
        impl $crate::mirror::WitType for $name {
            fn wit_name() -> String { $wit.to_string() }
        }
        impl $crate::mirror::WitShape for $name {
            const WIT_NAME: &'static str = $wit;
            fn shape() -> $crate::mirror::Shape {
                $crate::mirror::Shape::Record(vec![$(
                    ($crate::mirror::kebab(stringify!($f)), <$t as $crate::mirror::WitType>::wit_name())
                ),*])
            }
        }
    };
}

/// Defines an enum with payloads mirroring a WIT variant.
#[macro_export]
macro_rules! wit_variant {
    ($(#[$m:meta])* $wit:literal pub enum $name:ident { $($(#[$cm:meta])* $c:ident $(($t:ty))?),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        pub enum $name { $($(#[$cm])* $c $(($t))?),* }
        impl $crate::mirror::WitType for $name {
            fn wit_name() -> String { $wit.to_string() }
        }
        impl $crate::mirror::WitShape for $name {
            const WIT_NAME: &'static str = $wit;
            fn shape() -> $crate::mirror::Shape {
                $crate::mirror::Shape::Variant(vec![$(
                    ($crate::mirror::kebab(stringify!($c)), $crate::wit_variant!(@payload $($t)?))
                ),*])
            }
        }
    };
    (@payload $t:ty) => { Some(<$t as $crate::mirror::WitType>::wit_name()) };
    (@payload) => { None };
}

/// Defines a payload-free enum mirroring a WIT enum.
#[macro_export]
macro_rules! wit_enum {
    ($(#[$m:meta])* $wit:literal pub enum $name:ident { $($(#[$cm:meta])* $c:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name { $($(#[$cm])* $c),* }
        impl $crate::mirror::WitType for $name {
            fn wit_name() -> String { $wit.to_string() }
        }
        impl $crate::mirror::WitShape for $name {
            const WIT_NAME: &'static str = $wit;
            fn shape() -> $crate::mirror::Shape {
                $crate::mirror::Shape::Enum(vec![$($crate::mirror::kebab(stringify!($c))),*])
            }
        }
    };
}
