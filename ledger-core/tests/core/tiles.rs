//! Tile paths against the spellings of C2SP tlog-tiles and Go's `golang.org/x/mod/sumdb/tlog`,
//! the tiles of a tree against the stored hashes of `merkle`, and proofs read from tiles.

use ledger_core::hash::{leaf_hash, Hash};
use ledger_core::merkle::{check_record, check_tree, prove_record, prove_tree, tree_hash, MemoryHashes};
use ledger_core::merkle::{HashReader, MerkleError};
use ledger_core::tiles::*;
use std::cell::RefCell;
use std::collections::BTreeMap;

fn check_path(path: &str, kind: TileKind, index: u64, width: u64) {
    let tile = Tile::parse_path(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!((tile.kind(), tile.index(), tile.width()), (kind, index, width), "{path}");
    assert_eq!(tile.path(), path, "a parsed path is written back the same");
}

#[test]
fn paths_are_those_of_go_tlog() {
    let h = |level| TileKind::Hashes { level };
    check_path("tile/0/000", h(0), 0, 256);
    check_path("tile/0/001", h(0), 1, 256);
    check_path("tile/0/999", h(0), 999, 256);
    check_path("tile/0/x001/000", h(0), 1000, 256);
    check_path("tile/0/x001/x234/067", h(0), 1_234_067, 256);
    check_path("tile/0/x001/x234/067.p/1", h(0), 1_234_067, 1);
    check_path("tile/3/x001/x234/067.p/255", h(3), 1_234_067, 255);
    check_path("tile/63/000.p/1", h(63), 0, 1);
    check_path("tile/entries/000", TileKind::Entries, 0, 256);
    check_path("tile/entries/x001/x234/067.p/8", TileKind::Entries, 1_234_067, 8);
    check_path("tile/1/x018/x446/x744/x073/x709/x551/615", h(1), u64::MAX, 256);
}

#[test]
fn non_canonical_paths_are_refused() {
    for bad in [
        "",
        "tile",
        "tile/",
        "/tile/0/000",
        "tiles/0/000",
        "tile/0",
        "tile/0/",
        "tile/00/000",
        "tile/01/000",
        "tile/-1/000",
        "tile/+1/000",
        "tile/64/000",
        "tile/256/000",
        "tile/x/000",
        "tile/data/000",
        "tile/0/0",
        "tile/0/00",
        "tile/0/0000",
        "tile/0/1234",
        "tile/0/x000/001",
        "tile/0/x000/x001/234",
        "tile/0/001/000",
        "tile/0/x1/000",
        "tile/0/x001/x234/x067",
        "tile/0/x001//067",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/300",
        "tile/0/000.p/05",
        "tile/0/000.p/",
        "tile/0/000.p/5/",
        "tile/0/000.p/x5",
        "tile/0/000/",
        "tile/0/000.p",
        "tile/entries/000.p/0",
        "tile/entries/000.p/256",
        "tile/entries/x000/000",
        "tile/0/x018/x446/x744/x073/x709/x551/616",
        "tile/0/x001/x001/x001/x001/x001/x001/x001/000",
        "tile/0/٠٠١",
    ] {
        assert!(Tile::parse_path(bad).is_err(), "{bad:?} must be refused");
    }
}

#[test]
fn a_tree_has_the_tiles_tlog_tiles_lists() {
    // The spec's example: 70,000 leaves are 273 full level-0 tiles and one of width 112, one
    // full level-1 tile and one of width 17, and one level-2 tile of width 1.
    let tiles = all_tiles(70_000);
    let level = |kind| tiles.iter().filter(|t| t.kind() == kind).collect::<Vec<_>>();
    let l0 = level(TileKind::Hashes { level: 0 });
    assert_eq!(l0.len(), 274);
    assert_eq!(l0.iter().filter(|t| !t.is_partial()).count(), 273);
    assert_eq!(l0.last().map(|t| t.path()), Some("tile/0/273.p/112".to_string()));
    let l1: Vec<String> = level(TileKind::Hashes { level: 1 }).iter().map(|t| t.path()).collect();
    assert_eq!(l1, ["tile/1/000", "tile/1/001.p/17"]);
    let l2: Vec<String> = level(TileKind::Hashes { level: 2 }).iter().map(|t| t.path()).collect();
    assert_eq!(l2, ["tile/2/000.p/1"]);
    assert!(level(TileKind::Hashes { level: 3 }).is_empty());
    assert_eq!(level(TileKind::Entries).len(), 274);
    // "A tree of size 256 is a full level 0 tile and a partial level 1 tile of width 1."
    let paths: Vec<String> = all_tiles(256).iter().map(|t| t.path()).collect();
    assert_eq!(paths, ["tile/entries/000", "tile/0/000", "tile/1/000.p/1"]);
    assert!(all_tiles(0).is_empty());
}

#[test]
fn new_tiles_are_what_changed() {
    let paths = |a, b| new_tiles(a, b).iter().map(|t| t.path()).collect::<Vec<_>>();
    assert_eq!(paths(0, 3), ["tile/entries/000.p/3", "tile/0/000.p/3"]);
    assert_eq!(paths(3, 5), ["tile/entries/000.p/5", "tile/0/000.p/5"]);
    assert_eq!(paths(5, 256), ["tile/entries/000", "tile/0/000", "tile/1/000.p/1"]);
    assert_eq!(paths(256, 257), ["tile/entries/001.p/1", "tile/0/001.p/1"]);
    assert_eq!(
        paths(200, 600),
        [
            "tile/entries/000",
            "tile/entries/001",
            "tile/entries/002.p/88",
            "tile/0/000",
            "tile/0/001",
            "tile/0/002.p/88",
            "tile/1/000.p/2",
        ]
    );
    assert!(paths(600, 600).is_empty());
    assert!(paths(600, 500).is_empty());
}

#[test]
fn tile_widths_follow_the_tree_size() {
    let e = TileKind::Entries;
    let h1 = TileKind::Hashes { level: 1 };
    assert_eq!(Tile::for_tree(e, 0, 300).map(|t| t.width()), Some(256));
    assert_eq!(Tile::for_tree(e, 1, 300).map(|t| t.width()), Some(44));
    assert_eq!(Tile::for_tree(e, 2, 300), None);
    assert_eq!(Tile::for_tree(h1, 0, 255), None);
    assert_eq!(Tile::for_tree(h1, 0, 512).map(|t| t.width()), Some(2));
    let partial = Tile::parse_path("tile/0/001.p/10").expect("path");
    assert!(partial.within(300), "an older partial tile is a prefix of the data");
    assert!(!partial.within(265));
    assert!(Tile::parse_path("tile/0/001").expect("path").within(512));
    assert!(!Tile::parse_path("tile/0/001").expect("path").within(511));
    assert_eq!(partial.entry_range(), None);
    assert_eq!(Tile::parse_path("tile/entries/001.p/10").expect("path").entry_range(), Some(256..266));
}

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(format!("entry {i}").as_bytes())).collect()
}

fn memory_tree(n: u64) -> MemoryHashes {
    let mut tree = MemoryHashes::new();
    for leaf in leaves(n) {
        tree.append_leaf(leaf);
    }
    tree
}

/// Tiles read from a map, counting reads, as a directory or a URL would serve them.
#[derive(Default)]
struct MapTiles {
    tiles: BTreeMap<Tile, Vec<Hash>>,
    reads: RefCell<u64>,
}

impl TileSource for MapTiles {
    fn read_tile(&self, tile: &Tile) -> Result<Vec<Hash>, MerkleError> {
        *self.reads.borrow_mut() += 1;
        self.tiles.get(tile).cloned().ok_or_else(|| MerkleError::Read(format!("no {}", tile.path())))
    }
}

/// The builder's tiles of a tree of `n` leaves.
fn built_tiles(n: u64) -> MapTiles {
    let mut builder = TileBuilder::new();
    let mut source = MapTiles::default();
    for leaf in leaves(n) {
        source.tiles.extend(builder.push_leaf(leaf));
    }
    source.tiles.extend(builder.partial_tiles());
    source
}

#[test]
fn built_tiles_are_the_stored_hashes() {
    for n in [1u64, 2, 255, 256, 257, 511, 512, 700, 65_536 + 300] {
        let tree = memory_tree(n);
        let source = built_tiles(n);
        let expected: Vec<Tile> =
            all_tiles(n).into_iter().filter(|t| t.kind() != TileKind::Entries).collect();
        let got: Vec<Tile> = source.tiles.keys().copied().collect();
        let mut expected_sorted = expected.clone();
        expected_sorted.sort();
        assert_eq!(got, expected_sorted, "size {n}: the builder makes exactly the tree's tiles");
        for (tile, hashes) in &source.tiles {
            let indexes = tile.stored_hash_indexes().expect("hash tile");
            assert_eq!(&tree.read_hashes(&indexes).expect("stored"), hashes, "{} at size {n}", tile.path());
            let bytes = encode_hash_tile(hashes);
            assert_eq!(bytes.len() as u64, tile.width() * 32);
            assert_eq!(&parse_hash_tile(tile, &bytes).expect("parses"), hashes);
        }
    }
}

#[test]
fn roots_and_proofs_read_from_tiles_are_the_trees() {
    for n in [1u64, 3, 256, 257, 1000, 65_536 + 300] {
        let tree = memory_tree(n);
        let source = built_tiles(n);
        let reader = TileHashReader::new(n, &source);
        assert_eq!(tree_hash(n, &reader), Ok(tree.root()), "root at size {n}");
        check_tiles_root(n, tree.root(), &source).expect("tiles match the root");
        for seq in [0, n / 2, n - 1] {
            let proof = prove_record(n, seq, &reader).expect("inclusion from tiles");
            assert_eq!(proof, prove_record(n, seq, &tree).expect("inclusion"));
            check_record(&proof, n, tree.root(), seq, leaves(n)[seq as usize]).expect("checks");
        }
        // A smaller tree's root, and the proof that it is a prefix, from the bigger tree's tiles.
        let old = (n / 3).max(1);
        let old_root = memory_tree(old).root();
        assert_eq!(tree_hash(old, &reader), Ok(old_root));
        let proof = prove_tree(n, old, &reader).expect("consistency from tiles");
        check_tree(&proof, n, tree.root(), old, old_root).expect("checks");
    }
}

#[test]
fn a_wrong_tile_on_the_right_edge_fails_the_root_check() {
    let n = 700;
    let tree = memory_tree(n);
    let mut source = built_tiles(n);
    let tile = Tile::parse_path("tile/0/002.p/188").expect("path");
    source.tiles.get_mut(&tile).expect("tile")[5].0[0] ^= 1;
    assert!(check_tiles_root(n, tree.root(), &source).is_err());
    // A tile of the wrong width is refused, not misread.
    let mut short = built_tiles(n);
    short.tiles.get_mut(&tile).expect("tile").pop();
    assert!(matches!(check_tiles_root(n, tree.root(), &short), Err(MerkleError::ReadCount { .. })));
}

#[test]
fn entry_bundles_round_trip_and_refuse_bad_bytes() {
    let entries: Vec<Vec<u8>> = vec![b"{\"seq\":0}".to_vec(), Vec::new(), vec![b'x'; 40_000]];
    let tile = Tile::entries(0, 3).expect("tile");
    let bytes = encode_entry_bundle(entries.iter().map(Vec::as_slice)).expect("encodes");
    assert_eq!(&bytes[..2], &[0, 9], "a big-endian u16 length first");
    let parsed = parse_entry_bundle(&tile, &bytes).expect("parses");
    assert_eq!(parsed, entries.iter().map(Vec::as_slice).collect::<Vec<_>>());
    // Cut short, a byte too many, fewer entries than the width, a length past the end.
    assert!(parse_entry_bundle(&tile, &bytes[..bytes.len() - 1]).is_err());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(parse_entry_bundle(&tile, &longer).is_err());
    assert!(parse_entry_bundle(&Tile::entries(0, 4).expect("tile"), &bytes).is_err());
    assert!(parse_entry_bundle(&tile, &[0xff, 0xff, 1]).is_err());
    assert!(parse_entry_bundle(&tile, &[]).is_err());
    assert!(encode_entry_bundle([vec![0u8; 70_000].as_slice()]).is_err());
    // A hash tile of the wrong length.
    let h = Tile::hashes(0, 0, 2).expect("tile");
    assert!(parse_hash_tile(&h, &[0u8; 63]).is_err());
    assert!(parse_hash_tile(&h, &[0u8; 96]).is_err());
}

#[test]
fn coordinates_outside_the_spec_are_refused() {
    assert!(Tile::hashes(64, 0, 1).is_err());
    assert!(Tile::hashes(0, 0, 0).is_err());
    assert!(Tile::hashes(0, 0, 257).is_err());
    assert!(Tile::entries(0, 0).is_err());
    assert_eq!(Tile::hashes(0, u64::MAX, 256).expect("tile").stored_hash_indexes(), None);
    assert_eq!(Tile::hashes(8, 0, 1).expect("tile").stored_hash_indexes(), None);
}
