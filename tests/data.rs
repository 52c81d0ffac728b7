//! The MNIST loader: a good asset parses; each kind of damage gives an error naming it.
#![cfg(not(target_arch = "wasm32"))]

use genlab::data::{DataError, DeviceSplit, Mnist, Sampler, Split, binarize, binarize_tensor, binarize_with, write_idx};
use genlab::rng::Rng;
use std::io::Write;

fn gzip(raw: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(raw).unwrap();
    enc.finish().unwrap()
}

fn small() -> Mnist {
    let mut m = Mnist::fixture();
    m.train.images.truncate(20 * 784);
    m.train.labels.truncate(20);
    m.test.images.truncate(10 * 784);
    m.test.labels.truncate(10);
    m
}

fn err(raw: &[u8]) -> DataError {
    Mnist::from_raw(raw).expect_err("damaged data must not parse")
}

fn says(e: &DataError, words: &[&str]) {
    let text = e.to_string();
    for w in words {
        assert!(text.contains(w), "error {text:?} should mention {w:?}");
    }
}

#[test]
fn fixture_is_512_train_and_128_test_real_digits() {
    let m = Mnist::fixture();
    assert_eq!((m.train.len(), m.test.len()), (512, 128));
    assert_eq!(m.train.images.len(), 512 * 784);
    // The first MNIST training digit is a 5, the first test digit a 7.
    assert_eq!((m.train.labels[0], m.test.labels[0]), (5, 7));
    // Every digit 0-9 appears, and images have ink.
    for d in 0..10 {
        assert!(m.train.labels.contains(&d));
    }
    assert!(m.train.image(0).iter().filter(|&&p| p > 128).count() > 50);
}

#[test]
fn good_asset_round_trips_through_gzip() {
    let m = small();
    let back = Mnist::from_asset(&gzip(&m.to_raw())).unwrap();
    assert_eq!(back.train.images, m.train.images);
    assert_eq!(back.test.labels, m.test.labels);
}

#[test]
fn an_asset_unzipped_by_the_server_is_accepted() {
    let m = small();
    let back = Mnist::from_asset(&m.to_raw()).unwrap();
    assert_eq!(back.test.images, m.test.images);
}

/// The page's files hold one split each (test digits first, then the training digits).
#[test]
fn a_one_split_asset_round_trips_gzipped_or_not() {
    let m = small();
    for raw in [m.test.to_raw(), gzip(&m.test.to_raw())] {
        let back = Split::from_asset(&raw, "test").unwrap();
        assert_eq!((back.images, back.labels), (m.test.images.clone(), m.test.labels.clone()));
    }
}

#[test]
fn a_damaged_one_split_asset_is_named() {
    let m = small();
    let gz = gzip(&m.train.to_raw());
    let e = Split::from_asset(&gz[..gz.len() / 2], "train").unwrap_err();
    assert!(matches!(e, DataError::Truncated(_)), "{e}");
    // The two-split layout (the fixture's) is not a page file.
    says(&Split::from_asset(&gzip(&m.to_raw()), "test").unwrap_err(), &["GLSPLIT1", "test"]);
    // Labels cut short inside the file: the IDX reader says which part.
    let raw = m.test.to_raw();
    says(&Split::from_asset(&raw[..raw.len() - 3], "test").unwrap_err(), &["test labels"]);
    // A file with no digits is refused (the page would have nothing to show).
    says(&Split::from_asset(&Split::empty().to_raw(), "test").unwrap_err(), &["no digits"]);
}

#[test]
fn not_gzip_is_named() {
    let e = Mnist::from_asset(b"<!doctype html><p>404</p>").unwrap_err();
    says(&e, &["not gzip"]);
}

#[test]
fn truncated_gzip_is_named() {
    let gz = gzip(&small().to_raw());
    let e = Mnist::from_asset(&gz[..gz.len() / 2]).unwrap_err();
    assert!(matches!(e, DataError::Truncated(_)), "{e}");
    says(&e, &["gzip"]);
}

#[test]
fn wrong_header_is_named() {
    let mut raw = small().to_raw();
    raw[0] = b'X';
    says(&err(&raw), &["GLMNIST1"]);
}

#[test]
fn bad_idx_magic_is_named() {
    let mut raw = small().to_raw();
    raw[8] = 0x12; // first byte of the train images' magic number
    says(&err(&raw), &["train images", "magic"]);
}

#[test]
fn wrong_value_type_is_named() {
    let mut raw = small().to_raw();
    raw[8 + 2] = 0x0D; // floats instead of unsigned bytes
    says(&err(&raw), &["train images", "0x0d"]);
}

#[test]
fn truncation_inside_each_part_is_named() {
    let raw = small().to_raw();
    let train_images = 8 + 16 + 20 * 784;
    let train_labels = 8 + 10;
    let test_images = 16 + 10 * 784;
    for (cut, part) in [
        (10, "train images"),
        (train_images - 5, "train images"),
        (train_images + 6, "train labels"),
        (train_images + train_labels + test_images - 1, "test images"),
        (raw.len() - 1, "test labels"),
    ] {
        let e = err(&raw[..cut]);
        assert!(matches!(e, DataError::Truncated(_)), "cut at {cut}: {e}");
        says(&e, &[part]);
    }
}

/// Builds an asset from hand-made parts.
fn asset(parts: &[(&[usize], Vec<u8>)]) -> Vec<u8> {
    let mut raw = b"GLMNIST1".to_vec();
    for (dims, data) in parts {
        write_idx(dims, data, &mut raw);
    }
    raw
}

#[test]
fn mismatched_counts_and_dimensions_are_named() {
    let img = |n: usize, side: usize| ([n, side, side], vec![0u8; n * side * side]);
    let (d3, x3) = img(3, 28);
    let (d2, x2) = img(2, 28);
    let labels = |n: usize| ([n], vec![1u8; n]);
    let (l3, y3) = labels(3);
    let (l2, y2) = labels(2);
    // 3 images, 2 labels
    says(&err(&asset(&[(&d3, x3.clone()), (&l2, y2.clone()), (&d2, x2.clone()), (&l2, y2.clone())])), &["train", "3 images but 2 labels"]);
    // 27×27 test images
    let (d27, x27) = img(2, 27);
    says(&err(&asset(&[(&d3, x3.clone()), (&l3, y3.clone()), (&d27, x27), (&l2, y2.clone())])), &["test images", "[2, 27, 27]"]);
    // a label that is not a digit
    let mut bad = y3.clone();
    bad[1] = 11;
    says(&err(&asset(&[(&d3, x3.clone()), (&l3, bad), (&d2, x2.clone()), (&l2, y2.clone())])), &["train label 1 is 11"]);
    // bytes after the last part
    let mut raw = asset(&[(&d3, x3), (&l3, y3), (&d2, x2), (&l2, y2)]);
    assert!(Mnist::from_raw(&raw).is_ok());
    raw.extend_from_slice(&[0, 0, 0]);
    says(&err(&raw), &["3 unexpected bytes"]);
}

#[test]
fn binarization_is_bernoulli_of_intensity_and_dynamic() {
    let intensities = vec![0.0, 0.25, 0.5, 1.0];
    let mut rng = Rng::new(3);
    let n = 20_000;
    let mut mean = [0.0f32; 4];
    let first = binarize(&intensities, &mut rng);
    let mut changed = false;
    for _ in 0..n {
        let b = binarize(&intensities, &mut rng);
        changed |= b != first;
        for (m, v) in mean.iter_mut().zip(&b) {
            assert!(*v == 0.0 || *v == 1.0);
            *m += v / n as f32;
        }
    }
    assert!(changed, "each batch must draw new pixels");
    for (m, p) in mean.iter().zip(&intensities) {
        assert!((m - p).abs() < 0.015, "mean {m} vs intensity {p}");
    }
}

fn values(t: burn::tensor::Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

#[test]
fn batches_gathered_on_the_device_equal_batches_gathered_on_the_host() {
    use burn::tensor::{Device, Tensor, TensorData};
    let m = Mnist::fixture();
    let device = Device::flex().autodiff();
    let on_device = DeviceSplit::new(&m.train, &device);
    assert_eq!(on_device.len(), m.train.len());
    // Out of order, repeated, first and last: and ink of 255 sets the sign bit of a packed word.
    let indices = [511, 0, 7, 7, 300, 1, 42];
    let host = m.train.intensities(&indices);
    assert!(m.train.image(7).chunks(4).any(|w| w[3] >= 128), "the fixture should exercise the sign bit");
    let gathered = on_device.intensities(&indices);
    assert_eq!(gathered.dims(), [indices.len(), 784]);
    let gathered = values(gathered);
    assert!(host.iter().zip(&gathered).all(|(h, d)| h.to_bits() == d.to_bits()), "device intensities differ from the host's");
    // The held-out evaluation's slice of the first digits: the host's too.
    let first = values(on_device.first(9));
    assert_eq!(first.len(), 9 * 784);
    assert!(m.train.intensities(&(0..9).collect::<Vec<_>>()).iter().zip(&first).all(|(h, d)| h.to_bits() == d.to_bits()));
    // A piece of it, running past the end of the split: cut there.
    let last = values(on_device.range(505..600));
    assert_eq!(last.len(), 7 * 784);
    assert!(m.train.intensities(&(505..512).collect::<Vec<_>>()).iter().zip(&last).all(|(h, d)| h.to_bits() == d.to_bits()));
    // The same binarization noise gives the same binary pixels.
    let mut rng = Rng::new(5);
    let noise: Vec<f32> = (0..host.len()).map(|_| rng.uniform()).collect();
    let on_host = binarize_with(&host, &noise);
    let noise = Tensor::<2>::from_data(TensorData::new(noise, [indices.len(), 784]), &device);
    let on_dev = values(binarize_tensor(on_device.intensities(&indices), noise));
    assert_eq!(on_host, on_dev);
    assert!(on_host.contains(&1.0) && on_host.contains(&0.0));
}

#[test]
fn the_trainers_batches_are_dynamic_binarizations_drawn_on_the_device() {
    use burn::tensor::Device;
    use genlab::train::{Pixels, prepare_tensor};
    let m = Mnist::fixture();
    let device = Device::flex();
    let on_device = DeviceSplit::new(&m.train, &device);
    let indices: Vec<usize> = (0..64).collect();
    let p = m.train.intensities(&indices);
    let a = values(prepare_tensor(on_device.intensities(&indices), Pixels::Binarized, 3));
    let b = values(prepare_tensor(on_device.intensities(&indices), Pixels::Binarized, 4));
    assert!(a.iter().all(|&v| v == 0.0 || v == 1.0));
    assert_ne!(a, b, "each batch must draw new pixels");
    assert_eq!(values(prepare_tensor(on_device.intensities(&indices), Pixels::Binarized, 3)), a, "a batch's seed fixes its pixels");
    // Pixels of intensity 0 and 1 are certain; the rest are 1 as often as their intensity says.
    assert!(a.iter().zip(&p).all(|(&x, &p)| (p != 0.0 || x == 0.0) && (p != 1.0 || x == 1.0)));
    let grey: Vec<(f32, f32)> = a.iter().chain(&b).zip(p.iter().chain(&p)).filter(|(_, p)| **p > 0.0 && **p < 1.0).map(|(x, p)| (*x, *p)).collect();
    let excess = grey.iter().map(|(x, p)| x - p).sum::<f32>() / grey.len() as f32;
    let sd = (grey.iter().map(|(_, p)| p * (1.0 - p)).sum::<f32>()).sqrt() / grey.len() as f32;
    assert!(excess.abs() < 4.0 * sd, "binary pixels are 1 on average {excess} more often than their intensities (sd {sd})");
    let signed = values(prepare_tensor(on_device.intensities(&indices), Pixels::Signed, 3));
    assert_eq!(signed, p.iter().map(|p| p * 2.0 - 1.0).collect::<Vec<_>>());
}

#[test]
fn sampler_visits_every_digit_once_per_epoch() {
    let mut s = Sampler::new(100);
    let mut rng = Rng::new(1);
    let mut seen = vec![0; 100];
    for _ in 0..10 {
        for i in s.batch(10, &mut rng) {
            seen[i] += 1;
        }
    }
    assert!(seen.iter().all(|&c| c == 1));
    assert_eq!(s.epoch, 1);
    s.batch(10, &mut rng);
    assert_eq!(s.epoch, 2);
}
