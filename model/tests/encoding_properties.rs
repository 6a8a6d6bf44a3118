//! Property tests of `model::encoding`: key and value round trips for arbitrary datums (every
//! float bit pattern, NaNs and signed zeros included), key order equal to datum order, canonical
//! decoding, and no panic on arbitrary bytes.

use model::encoding::{decode_index_key, decode_value, encode_index_key, encode_value, index_prefix, index_span, pretty_key, table_span};
use model::{Datum, Key};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))), ..ProptestConfig::default() }
}

#[derive(Clone, Copy, Debug)]
enum ColType {
    Bool,
    Int,
    Float,
    String,
    Bytes,
}

fn col_type() -> impl Strategy<Value = ColType> {
    prop::sample::select(vec![ColType::Bool, ColType::Int, ColType::Float, ColType::String, ColType::Bytes])
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        2 => any::<u64>().prop_map(f64::from_bits),
        1 => prop::sample::select(vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            f64::from_bits(1),
            -f64::from_bits(1),
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7ff0_0000_0000_0001),
            f64::from_bits(0xfff0_0000_0000_0001),
            f64::from_bits(u64::MAX),
        ]),
        1 => (-4i32..4).prop_map(|i| i as f64 / 2.0),
    ]
}

fn small_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![3 => prop::sample::select(vec![0u8, 1, 0xfe, 0xff, b'a']), 1 => any::<u8>()], 0..5)
}

fn small_string() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[\\x00\\x01a-b\\x7f\u{ff}\u{100}\u{10ffff}]{0,4}", 1 => any::<String>()]
}

/// A value of the column type, NULL a fifth of the time.
fn datum_of(t: ColType) -> BoxedStrategy<Datum> {
    let value = match t {
        ColType::Bool => any::<bool>().prop_map(Datum::Bool).boxed(),
        ColType::Int => prop_oneof![any::<i64>(), prop::sample::select(vec![i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX]), -3i64..3,]
            .prop_map(Datum::Int)
            .boxed(),
        ColType::Float => float().prop_map(Datum::Float).boxed(),
        ColType::String => small_string().prop_map(Datum::String).boxed(),
        ColType::Bytes => small_bytes().prop_map(Datum::Bytes).boxed(),
    };
    prop_oneof![1 => Just(Datum::Null), 4 => value].boxed()
}

fn row_of(types: &[ColType]) -> BoxedStrategy<Vec<Datum>> {
    types.iter().map(|t| datum_of(*t)).collect::<Vec<_>>().boxed()
}

/// Two rows with the same column types.
fn row_pair() -> impl Strategy<Value = (Vec<Datum>, Vec<Datum>)> {
    prop::collection::vec(col_type(), 0..4).prop_flat_map(|types| (row_of(&types), row_of(&types)))
}

/// A row of any types and any length.
fn any_row() -> impl Strategy<Value = Vec<Datum>> {
    prop::collection::vec(col_type().prop_flat_map(datum_of), 0..5)
}

fn nonempty_row() -> impl Strategy<Value = Vec<Datum>> {
    prop::collection::vec(col_type().prop_flat_map(datum_of), 1..5)
}

fn id() -> impl Strategy<Value = u32> {
    prop_oneof![any::<u32>(), prop::sample::select(vec![0, 1, 2, 49, 50, 53, u32::MAX - 1, u32::MAX])]
}

/// Table ids for span checks. table_span(u32::MAX) is empty: there is no end key after every
/// key of table u32::MAX (see the report). Every other table id is allowed.
fn table_id() -> impl Strategy<Value = u32> {
    prop_oneof![0..u32::MAX, prop::sample::select(vec![0, 1, 49, 50, 53, u32::MAX - 2, u32::MAX - 1])]
}

/// Bytes that often look almost like an encoding.
fn raw_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![3 => 0u8..8, 1 => Just(0xff), 2 => any::<u8>()], 0..24)
}

/// Bitwise float identity for the datums, on top of `Datum`'s total-order equality.
fn same(a: &[Datum], b: &[Datum]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (Datum::Float(x), Datum::Float(y)) => x.to_bits() == y.to_bits(),
            _ => x == y,
        })
}

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn index_keys_round_trip(t in id(), i in id(), row in any_row()) {
        let k = encode_index_key(t, i, &row);
        prop_assert!(k.0.starts_with(&index_prefix(t, i).0));
        let (t2, i2, back) = decode_index_key(&k).unwrap();
        prop_assert_eq!((t2, i2), (t, i));
        prop_assert!(same(&back, &row), "{:?} came back as {:?}", row, back);
        // The printed form never panics either.
        let _ = pretty_key(&k);
    }

    #[test]
    fn values_round_trip(row in any_row()) {
        let v = encode_value(&row);
        let back = decode_value(&v).unwrap();
        prop_assert!(same(&back, &row), "{:?} came back as {:?}", row, back);
    }

    #[test]
    fn key_order_is_datum_order((a, b) in row_pair(), t in id(), i in id()) {
        let ka = encode_index_key(t, i, &a);
        let kb = encode_index_key(t, i, &b);
        prop_assert_eq!(ka.cmp(&kb), a.cmp(&b), "{:?} vs {:?}", a, b);
        // Equal keys only for bitwise-equal datums.
        prop_assert_eq!(ka == kb, same(&a, &b));
    }

    #[test]
    fn key_order_is_datum_order_for_any_rows(a in any_row(), b in any_row()) {
        // Mixed types and lengths too: tags sort like `Datum`'s type rank, and a row that is a
        // prefix of another sorts first, as in lexicographic order.
        prop_assert_eq!(encode_index_key(60, 1, &a).cmp(&encode_index_key(60, 1, &b)), a.cmp(&b), "{:?} vs {:?}", a, b);
    }

    #[test]
    fn keys_sort_by_table_then_index_first(t1 in id(), i1 in id(), a in any_row(), t2 in id(), i2 in id(), b in any_row()) {
        prop_assume!((t1, i1) != (t2, i2));
        prop_assert_eq!(encode_index_key(t1, i1, &a).cmp(&encode_index_key(t2, i2, &b)), (t1, i1).cmp(&(t2, i2)));
    }

    #[test]
    fn table_and_index_spans_hold_their_keys(t in table_id(), i in id(), row in any_row(), t2 in table_id(), i2 in id()) {
        let k = encode_index_key(t, i, &row);
        prop_assert!(table_span(t).contains_key(&k));
        prop_assert!(index_span(t, i).contains_key(&k));
        prop_assert_eq!(table_span(t2).contains_key(&k), t2 == t);
        prop_assert_eq!(index_span(t2, i2).contains_key(&k), (t2, i2) == (t, i));
        prop_assert!(table_span(t).contains(&index_span(t, i)));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics_and_is_canonical(b in raw_bytes()) {
        if let Ok(row) = decode_value(&b) {
            // Whatever decodes re-encodes to the same bytes: there is one encoding per row.
            prop_assert_eq!(encode_value(&row), b.clone());
        }
        let k = Key(b.clone());
        if let Ok((t, i, row)) = decode_index_key(&k) {
            prop_assert_eq!(encode_index_key(t, i, &row), k.clone());
        }
        let _ = pretty_key(&k);
        let _ = format!("{k:?}");
    }

    #[test]
    fn truncated_encodings_are_errors(row in nonempty_row(), cut in any::<prop::sample::Index>()) {
        // Chopping bytes off a row's encoding gives an error or a shorter, different row: never
        // a panic, and never the original row.
        let v = encode_value(&row);
        let n = cut.index(v.len());
        if let Ok(back) = decode_value(&v[..n]) {
            prop_assert!(back.len() < row.len() || !same(&back, &row));
            prop_assert!(same(&back, &row[..back.len()]), "a prefix decodes to a prefix of the row");
        }
    }
}
