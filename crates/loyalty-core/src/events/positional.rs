//! A payload's stored form: the values of its fields in declaration order, as one JSON array
//! (`[1,"o-1001",1234,"pending","2026-11-08T12:00:00Z"]`), without the field names. An event
//! row is written for every order, so the names would be most of its bytes; the struct reads
//! back from the array with serde's own sequence form (`serde_json::from_str`), field by field
//! in the same order, so the two cannot disagree.

use serde::ser::{self, Impossible, Serialize, SerializeStruct, SerializeTuple, Serializer};

/// The positional JSON text of a struct.
pub fn to_array<T: Serialize>(value: &T) -> String {
    let mut out = Vec::with_capacity(64);
    value
        .serialize(Positional(&mut serde_json::Serializer::new(&mut out)))
        .expect("a payload is a struct of plain values");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// A serializer that takes one struct and hands its fields' values, without their names, to
/// `S` as a tuple. Anything but a struct at the top is refused: every payload is one.
struct Positional<S>(S);

/// A struct's fields as the elements of a tuple.
struct Fields<T>(T);

impl<T: SerializeTuple> SerializeStruct for Fields<T> {
    type Ok = T::Ok;
    type Error = T::Error;
    fn serialize_field<V: ?Sized + Serialize>(&mut self, _key: &'static str, value: &V) -> Result<(), T::Error> {
        self.0.serialize_element(value)
    }
    fn end(self) -> Result<T::Ok, T::Error> {
        self.0.end()
    }
}

fn not_a_struct<E: ser::Error>() -> E {
    E::custom("a payload's stored form is made of a struct")
}

macro_rules! refuse {
    ($($method:ident($($arg:ty),*)),+ $(,)?) => {
        $(fn $method(self, $(_: $arg),*) -> Result<S::Ok, S::Error> { Err(not_a_struct()) })+
    };
}

impl<S: Serializer> Serializer for Positional<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Impossible<S::Ok, S::Error>;
    type SerializeTuple = Impossible<S::Ok, S::Error>;
    type SerializeTupleStruct = Impossible<S::Ok, S::Error>;
    type SerializeTupleVariant = Impossible<S::Ok, S::Error>;
    type SerializeMap = Impossible<S::Ok, S::Error>;
    type SerializeStruct = Fields<S::SerializeTuple>;
    type SerializeStructVariant = Impossible<S::Ok, S::Error>;

    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Self::SerializeStruct, S::Error> {
        self.0.serialize_tuple(len).map(Fields)
    }

    refuse!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );

    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<S::Ok, S::Error> {
        Err(not_a_struct())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, _: &T) -> Result<S::Ok, S::Error> {
        Err(not_a_struct())
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<S::Ok, S::Error> {
        Err(not_a_struct())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        Err(not_a_struct())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, S::Error> {
        Err(not_a_struct())
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, S::Error> {
        Err(not_a_struct())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        Err(not_a_struct())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        Err(not_a_struct())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        Err(not_a_struct())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        a: i64,
        b: Option<String>,
        c: Vec<i64>,
        d: Option<i64>,
    }

    /// A struct is stored as its values in field order, nested values as they serialise
    /// anywhere, and reads back from that array as it was; anything else is refused.
    #[test]
    fn a_struct_is_stored_as_its_values_in_order_and_reads_back() {
        let s = Sample { a: 7, b: Some("x\"y".into()), c: vec![1, 2], d: None };
        let text = to_array(&s);
        assert_eq!(text, r#"[7,"x\"y",[1,2],null]"#);
        assert_eq!(serde_json::from_str::<Sample>(&text).unwrap(), s);
        assert!(serde_json::from_str::<Sample>(r#"[7,"x",[1],null,5]"#).is_err(), "an extra value is refused");
        assert!(serde_json::from_str::<Sample>(r#"[7,"x"]"#).is_err(), "a missing value is refused");
        let mut out = Vec::new();
        assert!(5_i64.serialize(Positional(&mut serde_json::Serializer::new(&mut out))).is_err());
    }
}
