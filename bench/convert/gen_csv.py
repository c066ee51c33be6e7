#!/usr/bin/env python3
"""Writes a realistic CSV of at least SIZE bytes for the conversion benchmark.

    gen_csv.py OUT.csv SIZE_MB

Columns: ids, names, e-mail, phone, city, dates, timestamps, amounts, codes, an optional
discount (often empty -> NULL) and free text with commas, double quotes and now and then a
line break inside a quoted field. Deterministic (fixed seed). Standard library only.
"""
import csv
import random
import sys

FIRST = ["Budi", "Siti", "Agus", "Dewi", "Andi", "Rina", "Joko", "Maria", "Ahmad", "Putri",
         "John", "Ana", "Wei", "Fatima", "Jürgen", "Zoë", "José", "Nguyễn", "Kenji", "Olga"]
LAST = ["Santoso", "Wijaya", "Pratama", "Hartono", "Kusuma", "O'Brien", "Müller", "García",
        "Tan", "Lim", "Saputra", "Hidayat", "Nugroho", "Smith", "Dubois", "Rossi"]
CITIES = ["Jakarta", "Surabaya", "Bandung", "Medan", "Semarang", "Makassar", "Denpasar",
          "Yogyakarta", "Palembang", "Singapore", "Kuala Lumpur", "São Paulo"]
STATUS = ["NEW", "PAID", "SHIPPED", "DELIVERED", "CANCELLED", "REFUNDED"]
CURRENCY = ["IDR", "IDR", "IDR", "USD", "SGD", "EUR"]
WORDS = ("customer asked about delivery, please call back before 5pm; "
         "item \"XL\" out of stock, offered size L instead, "
         "paid via transfer (BCA) - waiting for confirmation, "
         "alamat: Jl. Sudirman No. 12, RT 03/RW 05, "
         "complaint: \"package damaged\", refund approved, "
         "repeat buyer, VIP, prefers WhatsApp").split(" ")

HEADER = ["order_id", "customer_id", "first_name", "last_name", "email", "phone", "city",
          "order_date", "created_at", "amount", "currency", "status", "product_code",
          "quantity", "discount", "note"]


def main():
    out, size_mb = sys.argv[1], int(sys.argv[2])
    target = size_mb * 1024 * 1024
    rnd = random.Random(20240601)
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        order_id = 10_000_000
        rows = 0
        while True:
            batch = []
            for _ in range(10_000):
                order_id += 1
                first, last = rnd.choice(FIRST), rnd.choice(LAST)
                y, m, d = rnd.randint(2019, 2025), rnd.randint(1, 12), rnd.randint(1, 28)
                words = rnd.sample(WORDS, rnd.randint(3, 14))
                note = " ".join(words)
                if rnd.random() < 0.001:
                    note += "\nsecond line of the note"
                batch.append([
                    order_id,
                    "C%08d" % rnd.randint(1, 5_000_000),
                    first,
                    last,
                    "%s.%s%d@example.com" % (first.lower(), last.lower().replace("'", ""), rnd.randint(1, 999)),
                    "+628%d" % rnd.randint(100_000_000, 9_999_999_999),
                    rnd.choice(CITIES),
                    "%04d-%02d-%02d" % (y, m, d),
                    "%04d-%02d-%02dT%02d:%02d:%02d+07:00" % (y, m, d, rnd.randint(0, 23), rnd.randint(0, 59), rnd.randint(0, 59)),
                    "%d.%02d" % (rnd.randint(1, 25_000_000), rnd.randint(0, 99)),
                    rnd.choice(CURRENCY),
                    rnd.choice(STATUS),
                    "SKU-%05d" % rnd.randint(1, 40_000),
                    rnd.randint(1, 20),
                    "" if rnd.random() < 0.7 else "%d%%" % rnd.choice([5, 10, 15, 20, 50]),
                    note if rnd.random() < 0.9 else "",
                ])
            w.writerows(batch)
            rows += len(batch)
            if f.tell() >= target:
                break
    print(rows)


if __name__ == "__main__":
    main()
