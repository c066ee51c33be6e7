//! ObjectStore contract: local directory store and S3 (moto) behave the same.

use crate::support::{StoreFx, contract, local_store, mem_store, s3_store};
use bytes::Bytes;
use muara_core::ErrorKind;
use muara_core::checksum::{sha256_b64, sha256_matches};
use muara_core::ports::PutOptions;

contract!(
    [
        put_then_get_round_trips_with_checksum_and_metadata,
        lists_by_prefix_in_key_order,
        missing_objects_are_none_on_head_and_not_found_on_get,
        rename_moves_the_object_and_keeps_its_checksum,
        delete_is_idempotent,
        large_bodies_are_uploaded_whole_and_verified,
        keys_with_spaces_and_unicode_round_trip,
        overwriting_replaces_the_whole_object,
        files_upload_and_download_streaming_with_a_verified_checksum,
        multipart_uploads_go_part_by_part_and_can_be_resumed_or_abandoned,
    ],
    local_dir => local_store,
    aws_s3 => s3_store,
    memory => mem_store,
);

async fn put_then_get_round_trips_with_checksum_and_metadata(fx: &StoreFx) -> anyhow::Result<()> {
    let body = Bytes::from_static(b"id,name\n1,Budi\n2,Siti\n");
    let mut opts = PutOptions {
        content_type: Some("text/csv".into()),
        ..Default::default()
    };
    opts.metadata.insert("call-id".into(), "C-0001".into());
    let info = fx
        .store
        .put("raw/acme/crm/incoming/cust.csv", body.clone(), &opts)
        .await?;
    assert_eq!(info.sha256.as_deref(), Some(sha256_b64(&body).as_str()));
    assert_eq!(info.size, body.len() as u64);
    assert_eq!(fx.store.get("raw/acme/crm/incoming/cust.csv").await?, body);
    let head = fx
        .store
        .head("raw/acme/crm/incoming/cust.csv")
        .await?
        .expect("object exists");
    assert_eq!(head.sha256, info.sha256);
    assert_eq!(head.size, body.len() as u64);
    assert_eq!(
        head.metadata.get("call-id").map(String::as_str),
        Some("C-0001")
    );
    Ok(())
}

async fn lists_by_prefix_in_key_order(fx: &StoreFx) -> anyhow::Result<()> {
    for key in ["a/2.csv", "b/4.csv", "a/1.csv", "ab/3.csv", "a/sub/5.csv"] {
        fx.store
            .put(key, Bytes::from(key.to_string()), &PutOptions::default())
            .await?;
    }
    let keys =
        |v: Vec<muara_core::ports::ObjectInfo>| v.into_iter().map(|o| o.key).collect::<Vec<_>>();
    assert_eq!(
        keys(fx.store.list("a/").await?),
        ["a/1.csv", "a/2.csv", "a/sub/5.csv"]
    );
    assert_eq!(
        keys(fx.store.list("a").await?),
        ["a/1.csv", "a/2.csv", "a/sub/5.csv", "ab/3.csv"]
    );
    assert_eq!(keys(fx.store.list("a/s").await?), ["a/sub/5.csv"]);
    assert!(fx.store.list("nothing/").await?.is_empty());
    let sizes: Vec<u64> = fx.store.list("b/").await?.iter().map(|o| o.size).collect();
    assert_eq!(sizes, [7]);
    Ok(())
}

async fn missing_objects_are_none_on_head_and_not_found_on_get(fx: &StoreFx) -> anyhow::Result<()> {
    assert!(fx.store.head("no/such/key").await?.is_none());
    let err = fx.store.get("no/such/key").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{}", err.chain());
    Ok(())
}

async fn rename_moves_the_object_and_keeps_its_checksum(fx: &StoreFx) -> anyhow::Result<()> {
    let body = Bytes::from_static(b"{\"k\":1}\n");
    let put = fx
        .store
        .put(
            "raw/c/s/incoming/f.json",
            body.clone(),
            &PutOptions::default(),
        )
        .await?;
    fx.store
        .rename(
            "raw/c/s/incoming/f.json",
            "raw/c/s/archive/f_BATCH000001.json",
        )
        .await?;
    assert!(fx.store.head("raw/c/s/incoming/f.json").await?.is_none());
    let moved = fx
        .store
        .head("raw/c/s/archive/f_BATCH000001.json")
        .await?
        .expect("moved");
    assert_eq!(moved.sha256, put.sha256);
    assert_eq!(
        fx.store.get("raw/c/s/archive/f_BATCH000001.json").await?,
        body
    );
    let err = fx
        .store
        .rename("raw/c/s/incoming/f.json", "x/y")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{}", err.chain());
    Ok(())
}

async fn delete_is_idempotent(fx: &StoreFx) -> anyhow::Result<()> {
    fx.store
        .put("tmp/x", Bytes::from_static(b"x"), &PutOptions::default())
        .await?;
    fx.store.delete("tmp/x").await?;
    fx.store.delete("tmp/x").await?;
    assert!(fx.store.head("tmp/x").await?.is_none());
    Ok(())
}

async fn large_bodies_are_uploaded_whole_and_verified(fx: &StoreFx) -> anyhow::Result<()> {
    // Over two parts' worth, with a short last part, and not a repeating pattern.
    let len = 11 * 1024 * 1024 + 123;
    let body: Bytes = (0..len)
        .map(|i| (i * 31 % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let info = fx
        .store
        .put(
            "recordings/2026/11/01/big.wav",
            body.clone(),
            &PutOptions::default(),
        )
        .await?;
    let reported = info.sha256.clone().expect("a checksum is reported");
    let part = fx.multipart.map(|(_, part)| part).unwrap_or(len);
    assert!(
        sha256_matches(&reported, &body, part),
        "{reported} does not verify the body"
    );
    assert_ne!(
        reported,
        sha256_b64(b""),
        "not the checksum of an empty body"
    );
    assert_eq!(info.size, len as u64);
    let back = fx.store.get("recordings/2026/11/01/big.wav").await?;
    assert!(
        back == body,
        "the object read back differs from what was written"
    );
    Ok(())
}

async fn keys_with_spaces_and_unicode_round_trip(fx: &StoreFx) -> anyhow::Result<()> {
    let key = "raw/acme/sales/incoming/Q1 report (final) – ünïcode+plus.csv";
    fx.store
        .put(key, Bytes::from_static(b"a,b\n"), &PutOptions::default())
        .await?;
    let listed: Vec<String> = fx
        .store
        .list("raw/acme/sales/")
        .await?
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(listed, [key]);
    fx.store
        .rename(
            key,
            "raw/acme/sales/archive/Q1 report (final) – ünïcode+plus.csv",
        )
        .await?;
    assert_eq!(
        fx.store
            .get("raw/acme/sales/archive/Q1 report (final) – ünïcode+plus.csv")
            .await?,
        Bytes::from_static(b"a,b\n")
    );
    Ok(())
}

async fn overwriting_replaces_the_whole_object(fx: &StoreFx) -> anyhow::Result<()> {
    fx.store
        .put(
            "k",
            Bytes::from_static(b"first version, longer"),
            &PutOptions::default(),
        )
        .await?;
    let v2 = Bytes::from_static(b"second");
    let info = fx
        .store
        .put("k", v2.clone(), &PutOptions::default())
        .await?;
    assert_eq!(fx.store.get("k").await?, v2);
    assert_eq!(info.sha256.as_deref(), Some(sha256_b64(&v2).as_str()));
    assert_eq!(
        fx.store.head("k").await?.expect("exists").sha256,
        info.sha256
    );
    Ok(())
}

async fn files_upload_and_download_streaming_with_a_verified_checksum(
    fx: &StoreFx,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("in.parquet");
    let len = 11 * 1024 * 1024 + 7;
    let data: Vec<u8> = (0..len).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(&src, &data)?;
    let info = fx
        .store
        .upload(
            "data/acme/crm/incoming/cust_BATCH000001.parquet",
            &src,
            &PutOptions::default(),
        )
        .await?;
    assert_eq!(info.size, len as u64);
    let part = fx.multipart.map(|(_, part)| part).unwrap_or(len);
    let reported = info.sha256.clone().expect("a checksum is reported");
    assert!(
        sha256_matches(&reported, &data, part),
        "{reported} does not verify the file"
    );
    let dest = dir.path().join("out.parquet");
    let n = fx
        .store
        .download("data/acme/crm/incoming/cust_BATCH000001.parquet", &dest)
        .await?;
    assert_eq!(n, len as u64);
    assert!(std::fs::read(&dest)? == data, "downloaded file differs");
    let err = fx.store.download("data/none", &dest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{}", err.chain());
    Ok(())
}

async fn multipart_uploads_go_part_by_part_and_can_be_resumed_or_abandoned(
    fx: &StoreFx,
) -> anyhow::Result<()> {
    const PART: usize = 5 * 1024 * 1024;
    let key = "recordings/2026/11/21/C-MP-1.wav";
    let first: Vec<u8> = (0..PART).map(|i| (i % 241) as u8).collect();
    let last = b"the last part may be short".to_vec();
    let mut opts = PutOptions::default();
    opts.metadata.insert("call-id".into(), "C-MP-1".into());
    let id = fx.parts.start_upload(key, &opts).await?;
    // Out of order, and part 1 sent twice as a resumed upload does: the later one counts.
    let b = fx
        .parts
        .upload_part(key, &id, 2, last.clone().into())
        .await?;
    fx.parts
        .upload_part(key, &id, 1, vec![0u8; PART].into())
        .await?;
    let a = fx
        .parts
        .upload_part(key, &id, 1, first.clone().into())
        .await?;
    assert_eq!((a.number, a.size), (1, PART as u64));
    assert_eq!(a.sha256, sha256_b64(&first));
    assert!(
        fx.store.head(key).await?.is_none(),
        "nothing visible before completion"
    );
    let info = fx.parts.complete_upload(key, &id, &[a, b]).await?;
    let whole = [first.as_slice(), last.as_slice()].concat();
    assert_eq!(info.size, whole.len() as u64);
    let sum = info.sha256.clone().unwrap_or_default();
    assert!(sha256_matches(&sum, &whole, PART), "{sum}");
    assert_eq!(fx.store.get(key).await?, whole);
    let head = fx.store.head(key).await?.expect("completed");
    assert_eq!(
        head.metadata.get("call-id").map(String::as_str),
        Some("C-MP-1")
    );

    // A completed upload is gone; so is an abandoned one. Abandoning twice is fine.
    let gone_kind = |r: muara_core::Result<muara_core::ports::UploadedPart>| match r {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) if fx.moto && e.kind() == ErrorKind::Retryable => Ok(()),
        other => Err(anyhow::anyhow!("expected NotFound, got {other:?}")),
    };
    gone_kind(fx.parts.upload_part(key, &id, 3, last.clone().into()).await)?;
    let other = fx.parts.start_upload("recordings/x.wav", &opts).await?;
    fx.parts
        .upload_part("recordings/x.wav", &other, 1, last.clone().into())
        .await?;
    fx.parts.abort_upload("recordings/x.wav", &other).await?;
    gone_kind(
        fx.parts
            .upload_part("recordings/x.wav", &other, 2, last.clone().into())
            .await,
    )?;
    fx.parts.abort_upload("recordings/x.wav", &other).await?;
    assert!(fx.store.head("recordings/x.wav").await?.is_none());
    Ok(())
}
