// Checks the two AES-128 key schedules (aes128_ni.cc's aeskeygenassist version and
// aes128_portable.cc's S-box version) against FIPS-197's published round keys and each other,
// and that every pairing of schedule and block function gives FIPS-197's ciphertext.
// Built and run by test/aes_key_schedule.test.ts; prints "ok ..." lines, exits 1 on a mismatch.
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "core/cpu_features.h"
#include "prg/aes128.h"

using namespace tfe;

static int failures = 0;

static std::string hex(const uint8_t* p, size_t n) {
  std::string s;
  char b[3];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", p[i]);
    s += b;
  }
  return s;
}

static void unhex(const char* s, uint8_t* out) {
  for (size_t i = 0; s[2 * i]; ++i) std::sscanf(s + 2 * i, "%2hhx", &out[i]);
}

static void expect(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok" : "FAIL", what.c_str());
  if (!ok) ++failures;
}

int main() {
  const bool ni = cpuFeatures().aesni;
  std::printf("aes-ni %s\n", ni ? "present" : "absent");

  // FIPS-197 Appendix A.1: the whole expansion of 2b7e1516 28aed2a6 abf71588 09cf4f3c.
  const char* a1Key = "2b7e151628aed2a6abf7158809cf4f3c";
  const char* a1Rounds[11] = {
      "2b7e151628aed2a6abf7158809cf4f3c", "a0fafe1788542cb123a339392a6c7605", "f2c295f27a96b9435935807a7359f67f",
      "3d80477d4716fe3e1e237e446d7a883b", "ef44a541a8525b7fb671253bdb0bad00", "d4d1c6f87c839d87caf2b8bc11f915bc",
      "6d88a37a110b3efddbf98641ca0093fd", "4e54f70e5f5fc9f384a64fb24ea6dc4f", "ead27321b58dbad2312bf5607f8d292f",
      "ac7766f319fadc2128d12941575c006e", "d014f9a8c9ee2589e13f0cc8b6630ca6"};
  uint8_t key[16];
  unhex(a1Key, key);
  AesKey p{}, n{};
  aesExpandKeyPortable(key, &p);
  std::string want;
  for (auto r : a1Rounds) want += r;
  expect(hex(&p.roundKeys[0][0], 176) == want, "portable schedule = FIPS-197 A.1");
  if (ni) {
    aesExpandKeyNi(key, &n);
    expect(hex(&n.roundKeys[0][0], 176) == want, "aes-ni schedule = FIPS-197 A.1");
  }

  // FIPS-197 Appendix C.1: key 000102..0f encrypts 00112233..ff to 69c4e0d8..c55a. A CTR block at
  // counter = the plaintext is that encryption. Every (schedule, block function) pair must agree.
  unhex("000102030405060708090a0b0c0d0e0f", key);
  uint8_t iv[16], out[16];
  unhex("00112233445566778899aabbccddeeff", iv);
  AesKey keys[2];
  aesExpandKeyPortable(key, &keys[0]);
  if (ni) aesExpandKeyNi(key, &keys[1]);
  expect(hex(keys[0].roundKeys[10], 16) == "13111d7fe3944a17f307a78b4d2b30c5", "portable schedule: C.1 last round key");
  const char* names[2] = {"portable", "aes-ni"};
  for (int k = 0; k < (ni ? 2 : 1); ++k)
    for (int b = 0; b < (ni ? 2 : 1); ++b) {
      aesCtrBlocks(keys[k], iv, 0, 1, out, b ? AesImpl::AesNi : AesImpl::Portable);
      expect(hex(out, 16) == "69c4e0d86a7b0430d8cdb78070b4c55a",
             std::string("C.1 ciphertext, ") + names[k] + " schedule + " + names[b] + " rounds");
    }
  // Auto resolves to AES-NI here when present, and must give the same keys either way.
  AesKey a{};
  aesExpandKey(key, &a);
  expect(std::memcmp(&a, &keys[0], sizeof a) == 0, "auto schedule = portable schedule (C.1 key)");

  if (ni) {
    // Random and edge keys: the two schedules agree on all 176 bytes.
    std::mt19937_64 rng(20240612);
    int mismatches = 0;
    const int trials = 100000;
    for (int t = 0; t < trials; ++t) {
      if (t == 0) std::memset(key, 0, 16);
      else if (t == 1) std::memset(key, 0xff, 16);
      else
        for (auto& b : key) b = static_cast<uint8_t>(rng());
      aesExpandKeyPortable(key, &p);
      aesExpandKeyNi(key, &n);
      if (std::memcmp(&p, &n, sizeof p) != 0) {
        if (++mismatches <= 3) std::printf("  key %s: portable %s, aes-ni %s\n", hex(key, 16).c_str(), hex(&p.roundKeys[0][0], 176).c_str(), hex(&n.roundKeys[0][0], 176).c_str());
      }
    }
    expect(mismatches == 0, "aes-ni schedule = portable schedule on " + std::to_string(trials) + " keys (" + std::to_string(mismatches) + " differ)");
  }
  std::printf("%s\n", failures ? "FAILED" : "PASSED");
  return failures ? 1 : 0;
}
