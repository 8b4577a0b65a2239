//! `GET /tile/...` (C2SP tlog-tiles) through `app()`: every tile of the log equals the tile
//! recomputed from the export, bundles hold the exact entry bytes, older partial tiles are
//! prefixes, and tiles beyond the checkpoint or with non-canonical paths are refused with the
//! SPEC.md §8 body.

use crate::support::*;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use ledger_core::checkpoint::{open_checkpoint, LogKey};
use ledger_core::hash::{leaf_hash, Hash};
use ledger_core::merkle::MerkleError;
use ledger_core::tiles::{
    all_tiles, check_tiles_root, encode_entry_bundle, encode_hash_tile, parse_hash_tile, Tile, TileBuilder,
    TileKind, TileSource,
};
use ledger_core::types::Role;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use tower::ServiceExt;

/// Donations added in one batch, so the log passes a full tile (256 entries).
const DONATIONS: u64 = 300;

async fn get_with_headers(f: &Fixture, path: &str) -> (StatusCode, Vec<u8>, Option<String>, Option<String>) {
    let req = Request::builder().uri(path).body(Body::empty()).expect("request");
    let resp = f.app.clone().oneshot(req).await.expect("response");
    let header_text = |name| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (ctype, cache) = (header_text(header::CONTENT_TYPE), header_text(header::CACHE_CONTROL));
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes().to_vec();
    (status, bytes, ctype, cache)
}

/// A populated ledger grown past one full tile.
async fn grown() -> Fixture {
    let f = populated().await;
    let envelopes: Vec<String> = (0..DONATIONS)
        .map(|i| {
            let body = json!({"v":1,"kind":"donation.received","id":format!("D-tile-{i}"),"at":now(),"fund":"F-gen","amount_fen":100 + i,"channel":"cash"});
            sign(&body, &[&role_key(Role::Intake)]).to_json()
        })
        .collect();
    let (s, b) = f.request("POST", "/v1/batch", format!("[{}]", envelopes.join(",")).into_bytes()).await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    f
}

/// The export's entry lines.
async fn export(f: &Fixture) -> Vec<Vec<u8>> {
    let (s, body) = f.request("GET", "/v1/export", Vec::new()).await;
    assert_eq!(s, StatusCode::OK);
    body.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect()
}

#[tokio::test]
async fn every_tile_equals_the_tile_recomputed_from_the_export() {
    let f = grown().await;
    let (s, note) = f.get_text("/checkpoint").await;
    assert_eq!(s, StatusCode::OK);
    let log_key = LogKey::new(ORIGIN, key(3).verifying_key()).expect("log key");
    let checkpoint = open_checkpoint(&note, &log_key, &[]).expect("checkpoint opens").checkpoint;
    let entries = export(&f).await;
    let size = checkpoint.size;
    assert_eq!(entries.len() as u64, size);
    assert!(size > 256 + 8, "the log spans a full tile and a partial one");

    let mut builder = TileBuilder::new();
    let mut expected: BTreeMap<Tile, Vec<Hash>> = BTreeMap::new();
    for e in &entries {
        expected.extend(builder.push_leaf(leaf_hash(e)));
    }
    expected.extend(builder.partial_tiles());

    let mut served = MapTiles::default();
    let tiles = all_tiles(size);
    assert_eq!(tiles.len(), 5, "two bundles, two level-0 tiles, one level-1 tile");
    for tile in tiles {
        let (s, bytes, ctype, cache) = get_with_headers(&f, &format!("/{}", tile.path())).await;
        assert_eq!(s, StatusCode::OK, "{}", tile.path());
        assert_eq!(ctype.as_deref(), Some("application/octet-stream"));
        let immutable = "public, max-age=31536000, immutable";
        assert_eq!(cache.as_deref() == Some(immutable), !tile.is_partial(), "{}: {cache:?}", tile.path());
        match tile.entry_range() {
            Some(range) => {
                let slice = &entries[range.start as usize..range.end as usize];
                let want = encode_entry_bundle(slice.iter().map(Vec::as_slice)).expect("bundle");
                assert_eq!(bytes, want, "{} holds the exact entry bytes", tile.path());
            }
            None => {
                let want = expected.get(&tile).unwrap_or_else(|| panic!("no recomputed {}", tile.path()));
                assert_eq!(bytes, encode_hash_tile(want), "{}", tile.path());
                served.0.insert(tile, parse_hash_tile(&tile, &bytes).expect("hash tile"));
            }
        }
    }
    // The served tiles give the checkpoint's root, so every proof read from them holds.
    check_tiles_root(size, checkpoint.root, &served).expect("tiles match the checkpoint");
    let (_, _, _, cache) = get_with_headers(&f, "/checkpoint").await;
    assert_eq!(cache.as_deref(), Some("public, max-age=5"));
}

#[derive(Default)]
struct MapTiles(BTreeMap<Tile, Vec<Hash>>);

impl TileSource for MapTiles {
    fn read_tile(&self, tile: &Tile) -> Result<Vec<Hash>, MerkleError> {
        self.0.get(tile).cloned().ok_or_else(|| MerkleError::Read(tile.path()))
    }
}

#[tokio::test]
async fn partial_tiles_of_older_sizes_are_prefixes() {
    let f = grown().await;
    let entries = export(&f).await;
    let (_, full, _, _) = get_with_headers(&f, "/tile/0/000").await;
    let (s, first5, _, cache) = get_with_headers(&f, "/tile/0/000.p/5").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(first5, full[..5 * 32].to_vec());
    assert_eq!(cache.as_deref(), Some("public, max-age=60"));
    let (s, bundle, _, _) = get_with_headers(&f, "/tile/entries/001.p/3").await;
    assert_eq!(s, StatusCode::OK);
    let want = encode_entry_bundle(entries[256..259].iter().map(Vec::as_slice)).expect("bundle");
    assert_eq!(bundle, want);
}

#[tokio::test]
async fn tiles_beyond_the_checkpoint_are_not_found() {
    let f = grown().await;
    let size = f.size().await;
    let edge = size % 256;
    for path in [
        format!("/tile/0/{:03}.p/{}", size / 256, edge + 1),
        format!("/tile/entries/{:03}.p/{}", size / 256, edge + 1),
        format!("/tile/0/{:03}", size / 256),
        "/tile/0/003".to_string(),
        "/tile/1/000".to_string(),
        "/tile/1/000.p/2".to_string(),
        "/tile/2/000.p/1".to_string(),
        "/tile/63/000.p/1".to_string(),
        "/tile/0/x018/x446/x744/x073/x709/x551/615".to_string(),
    ] {
        let (s, v) = f.get(&path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {v}");
        assert_eq!(v["error"], "not_found", "{path}");
    }
}

#[tokio::test]
async fn non_canonical_tile_paths_are_bad_requests_and_change_nothing() {
    let f = grown().await;
    let before = f.get_text("/checkpoint").await.1;
    for path in [
        "/tile/0/0000",
        "/tile/00/000",
        "/tile/0/x000/001",
        "/tile/0/000.p/0",
        "/tile/0/000.p/256",
        "/tile/0/000.p/05",
        "/tile/64/000",
        "/tile/entries/0",
        "/tile/data/000",
        "/tile/0/000/",
    ] {
        let (s, v): (StatusCode, Value) = f.get(path).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {v}");
        assert_eq!(v["error"], "bad_request", "{path}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{path}");
    }
    let (s, _) = f.request("POST", "/tile/0/000", Vec::new()).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(f.get_text("/checkpoint").await.1, before, "reads change nothing");
    assert!(matches!(Tile::parse_path("tile/0/000").map(|t| t.kind()), Ok(TileKind::Hashes { level: 0 })));
}
