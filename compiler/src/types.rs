//! Ward's types, as the checker sees them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A type. Entity and enum types are named by their qualified names
/// (`Customer`, `roles.User`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    String,
    Int,
    Decimal,
    Bool,
    Time,
    Date,
    Duration,
    Ip,
    Cidr,
    /// One of several entity types (a scope such as `principal` without a
    /// type may be any entity type the matched actions allow). Sorted, unique,
    /// never empty.
    Entity(Arc<[Arc<str>]>),
    Enum(Arc<str>),
    Set(Box<Type>),
    List(Box<Type>),
    Record(Arc<RecordType>),
    /// The `action` variable.
    Action,
    /// `current` inside a flow condition: the request being decided.
    Request,
    /// The element type of `[]`: compatible with every type.
    Unknown,
    /// The type of an expression that already has an error: compatible with
    /// everything, so one mistake yields one diagnostic.
    Error,
}

/// A record's fields, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RecordType {
    pub fields: BTreeMap<Arc<str>, Field>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    pub ty: Type,
    pub optional: bool,
}

impl Type {
    pub fn entity(name: &str) -> Type {
        Type::Entity(Arc::from(vec![Arc::<str>::from(name)]))
    }

    pub fn entities(mut names: Vec<Arc<str>>) -> Type {
        names.sort();
        names.dedup();
        if names.is_empty() { Type::Error } else { Type::Entity(Arc::from(names)) }
    }

    /// True when the value is only known to be wrong (no further errors).
    pub fn is_error(&self) -> bool {
        matches!(self, Type::Error | Type::Unknown)
    }

    /// Whether values of the two types may be compared with `==`.
    pub fn comparable(&self, other: &Type) -> bool {
        match (self, other) {
            (a, b) if a.is_error() || b.is_error() => true,
            (Type::Entity(a), Type::Entity(b)) => a.iter().any(|t| b.contains(t)),
            (Type::Set(a), Type::Set(b)) | (Type::List(a), Type::List(b)) => a.comparable(b),
            (Type::Record(a), Type::Record(b)) => {
                a.fields.len() == b.fields.len()
                    && a.fields.iter().zip(&b.fields).all(|((ka, fa), (kb, fb))| ka == kb && fa.ty.comparable(&fb.ty))
            }
            (a, b) => a == b,
        }
    }

    /// Whether a value of type `self` can be used where `expected` is needed.
    pub fn fits(&self, expected: &Type) -> bool {
        match (self, expected) {
            (a, b) if a.is_error() || b.is_error() => true,
            (Type::Entity(a), Type::Entity(b)) => a.iter().all(|t| b.contains(t)),
            (Type::Set(a), Type::Set(b)) | (Type::List(a), Type::List(b)) | (Type::List(a), Type::Set(b)) => a.fits(b),
            (Type::Record(a), Type::Record(b)) => {
                a.fields.iter().all(|(k, fa)| b.fields.get(k).is_some_and(|fb| fa.ty.fits(&fb.ty)))
                    && b.fields.iter().all(|(k, fb)| fb.optional || a.fields.contains_key(k))
            }
            (a, b) => a == b,
        }
    }

    /// The element type of a set or list.
    pub fn element(&self) -> Option<&Type> {
        match self {
            Type::Set(t) | Type::List(t) => Some(t),
            _ => None,
        }
    }

    /// A short description with an article, for messages: "an `Int`".
    pub fn a(&self) -> String {
        let text = self.to_string();
        // By sound: "an `Int`", "an `Order`", but "a `User`".
        let vowel = text.starts_with(['A', 'E', 'I', 'O', '_']) || (text.starts_with("Un") && !text.starts_with("Uni"));
        if matches!(self, Type::Record(_) | Type::Set(_) | Type::List(_)) {
            return format!("a `{text}`");
        }
        format!("{} `{text}`", if vowel { "an" } else { "a" })
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::String => f.write_str("String"),
            Type::Int => f.write_str("Int"),
            Type::Decimal => f.write_str("Decimal"),
            Type::Bool => f.write_str("Bool"),
            Type::Time => f.write_str("Time"),
            Type::Date => f.write_str("Date"),
            Type::Duration => f.write_str("Duration"),
            Type::Ip => f.write_str("Ip"),
            Type::Cidr => f.write_str("Cidr"),
            Type::Entity(names) => {
                let names: Vec<&str> = names.iter().map(|n| &**n).collect();
                f.write_str(&names.join(" | "))
            }
            Type::Enum(name) => f.write_str(name),
            Type::Set(t) => write!(f, "Set<{t}>"),
            Type::List(t) => write!(f, "List<{t}>"),
            Type::Record(r) => {
                f.write_str("{ ")?;
                for (i, (name, field)) in r.fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{name}{}: {}", if field.optional { "?" } else { "" }, field.ty)?;
                }
                f.write_str(" }")
            }
            Type::Action => f.write_str("Action"),
            Type::Request => f.write_str("Request"),
            Type::Unknown => f.write_str("_"),
            Type::Error => f.write_str("{error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_unions() {
        let cu = Type::entities(vec!["Customer".into(), "User".into()]);
        assert!(Type::entity("User").fits(&cu));
        assert!(!cu.fits(&Type::entity("User")));
        assert!(cu.comparable(&Type::entity("User")));
        assert_eq!(cu.to_string(), "Customer | User");
    }

    #[test]
    fn empty_set_fits_any_set() {
        assert!(Type::Set(Box::new(Type::Unknown)).fits(&Type::Set(Box::new(Type::String))));
    }
}
