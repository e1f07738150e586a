use std::time::Duration;

use hub_store::files::{is_id, sniff, FileStore};

#[tokio::test]
async fn files_round_trip_with_sniffed_types_and_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("files")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
    let png = b"\x89PNG\r\n\x1a\nrest".to_vec();
    let id = store.put(png.clone()).await.unwrap();
    assert!(is_id(&id));
    let got = store.get(&id).await.unwrap().unwrap();
    assert_eq!(got.bytes, png);
    assert_eq!(got.content_type, "image/png");
    assert!(store.get("../secrets/pepper").await.unwrap().is_none());
    assert!(store.get(&"0".repeat(32)).await.unwrap().is_none());

    assert_eq!(store.sweep(Duration::from_secs(3600)).unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(store.sweep(Duration::from_millis(1)).unwrap(), 1);
    assert!(store.get(&id).await.unwrap().is_none());
}

#[test]
fn content_types_come_from_magic_bytes() {
    assert_eq!(sniff(&[0xff, 0xd8, 0xff, 0xe0]), "image/jpeg");
    assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), "image/webp");
    assert_eq!(sniff(b"GIF89a.."), "image/gif");
    assert_eq!(sniff(b"<svg"), "application/octet-stream");
    assert_eq!(sniff(b"\0\0\0\x1cftypisom\0\0\x02\0"), "video/mp4");
    assert_eq!(sniff(b"\0\0\0\x14ftypqt  \0\0\x02\0"), "video/quicktime");
    assert_eq!(sniff(&[0x1a, 0x45, 0xdf, 0xa3, 0x9f]), "video/webm");
    assert_eq!(sniff(b"\0\0\0\x1cftyp"), "application/octet-stream");
}
