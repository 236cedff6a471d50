//! Dataset listings: which paths are allowed, the limits, and the dataset
//! hash a goal commits to (with the vector in docs/ENCODING.md).

use ian_core::dataset::{DatasetError, DatasetFile, DatasetLimits, DatasetListing};
use ian_core::hash::sha256;

fn file(path: &str, bytes: &[u8]) -> DatasetFile {
    DatasetFile {
        path: path.into(),
        sha256: sha256(bytes),
        size: bytes.len() as u64,
    }
}

fn listing(files: Vec<DatasetFile>) -> Result<DatasetListing, DatasetError> {
    DatasetListing::new(files, &DatasetLimits::default())
}

fn bad_path_reason(path: &str) -> &'static str {
    match listing(vec![file(path, b"x")]).unwrap_err() {
        DatasetError::BadPath { reason, .. } => reason,
        other => panic!("{path:?}: expected BadPath, got {other:?}"),
    }
}

#[test]
fn paths_that_could_escape_the_root_are_refused_naming_why() {
    assert!(bad_path_reason("../secret").contains("`..`"));
    assert!(bad_path_reason("a/../../b").contains("`..`"));
    assert!(bad_path_reason("/etc/passwd").contains("absolute"));
    assert!(bad_path_reason("a\\..\\b").contains("backslash"));
    assert!(bad_path_reason("a//b").contains("empty component"));
    assert!(bad_path_reason("./a").contains("`.`"));
    assert!(bad_path_reason("a\nb").contains("control"));
    assert!(bad_path_reason("").contains("empty"));
    assert!(listing(vec![file("sub/dir/prices.csv", b"x")]).is_ok());
}

#[test]
fn dataset_over_the_file_limit_is_refused() {
    let files = (0..3).map(|i| file(&format!("f{i}"), b"x")).collect();
    let limits = DatasetLimits {
        max_files: 2,
        max_bytes: 100,
    };
    assert_eq!(
        DatasetListing::new(files, &limits).unwrap_err(),
        DatasetError::TooManyFiles { count: 3, max: 2 }
    );
}

#[test]
fn dataset_over_the_byte_limit_is_refused() {
    let limits = DatasetLimits {
        max_files: 10,
        max_bytes: 5,
    };
    let err = DatasetListing::new(vec![file("a", b"abc"), file("b", b"def")], &limits).unwrap_err();
    assert_eq!(err, DatasetError::TooManyBytes { bytes: 6, max: 5 });
}

#[test]
fn empty_duplicate_and_file_as_directory_listings_are_refused() {
    assert_eq!(listing(vec![]).unwrap_err(), DatasetError::Empty);
    assert_eq!(
        listing(vec![file("a", b"1"), file("a", b"2")]).unwrap_err(),
        DatasetError::Duplicate("a".into())
    );
    assert_eq!(
        listing(vec![file("a", b"1"), file("a/b", b"2")]).unwrap_err(),
        DatasetError::FileIsDirectory("a".into())
    );
}

#[test]
fn dataset_hash_ignores_listing_order_but_not_content_size_or_path() {
    let a = listing(vec![file("a.csv", b"1"), file("b.csv", b"2")]).unwrap();
    let b = listing(vec![file("b.csv", b"2"), file("a.csv", b"1")]).unwrap();
    assert_eq!(a.hash(), b.hash());
    assert_ne!(a.hash(), listing(vec![file("a.csv", b"1")]).unwrap().hash());
    assert_ne!(
        a.hash(),
        listing(vec![file("a.csv", b"1"), file("c.csv", b"2")])
            .unwrap()
            .hash()
    );
    let mut wrong_size = file("b.csv", b"2");
    wrong_size.size = 2;
    assert_ne!(
        a.hash(),
        listing(vec![file("a.csv", b"1"), wrong_size])
            .unwrap()
            .hash()
    );
}

#[test]
fn listing_round_trips_through_canonical_bytes() {
    let a = listing(vec![file("data/b.csv", b"22"), file("a.csv", b"1")]).unwrap();
    let back =
        DatasetListing::from_canonical_bytes(&a.to_canonical_bytes(), &DatasetLimits::default())
            .unwrap();
    assert_eq!(back, a);
}

#[test]
fn unsorted_canonical_listing_is_refused() {
    let a = listing(vec![file("a", b"1"), file("b", b"2")]).unwrap();
    let mut bytes = a.to_canonical_bytes();
    // Swap the two entries' path bytes ("a" <-> "b"): same length, now unsorted.
    let at = |needle: &[u8]| bytes.windows(5).position(|w| w == needle).unwrap() + 4;
    let (i, j) = (at(&[0, 0, 0, 1, b'a']), at(&[0, 0, 0, 1, b'b']));
    bytes.swap(i, j);
    let err = DatasetListing::from_canonical_bytes(&bytes, &DatasetLimits::default()).unwrap_err();
    assert!(err.to_string().contains("not sorted"), "{err}");
}

#[test]
fn dataset_hash_vector() {
    // Also in docs/ENCODING.md.
    let a = listing(vec![file("prices.csv", b"1,2\n"), file("a/b.txt", b"")]).unwrap();
    assert_eq!(
        hex::encode(a.to_canonical_bytes()),
        "0000000e69616e2f646174617365742f76310000000200000007612f622e747874e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85500000000000000000000000a7072696365732e63737652186c933993da4082b3cdc7c40bb4bf735b391ff54a2ef78c037dda6c38a6800000000000000004"
    );
    assert_eq!(
        a.hash().to_hex(),
        "00ef07b8ab62de4158f7d13c6f22afadacd358e4bb73b39082cae3eb89a458ab"
    );
}
