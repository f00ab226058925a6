"""Labeled evaluation corpus: valid identifiers with correct checksums, lookalikes, near-misses.

Everything is generated from a seed with independent implementations of the check algorithms
(Luhn, ISO 7064 mod 97, GB 11643 MOD 11-2, GB 32100 mod 31, ABA 3-7-1, ICAO 9303), so the
detectors are checked against arithmetic they do not share. Output: English and Chinese prose,
CSV rows and JSON records, each with the exact spans (or cells / pointers) of true values.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["CHECKSUM_TYPES", "Doc", "Generator", "Labeled"]

CHECKSUM_TYPES = frozenset(
    {"credit_card", "iban", "cn_resident_id", "cn_uscc", "aba_routing", "passport_mrz", "jwt"}
)


@dataclass
class Labeled:
    """A true value: its type and character span inside the document text."""

    type: str
    start: int
    end: int
    value: str


@dataclass
class Doc:
    """One generated text with its labels."""

    text: str
    labels: list[Labeled] = field(default_factory=list)


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def mod97_check(cc: str, bban: str) -> str:
    n = int("".join(str(int(c, 36)) for c in bban + cc + "00"))
    return f"{98 - n % 97:02d}"


_RIC_W = [pow(2, 17 - i, 11) for i in range(17)]


def ric_check(body: str) -> str:
    r = (12 - sum(int(c) * w for c, w in zip(body, _RIC_W, strict=True)) % 11) % 11
    return "X" if r == 10 else str(r)


_USCC_ALPHA = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def uscc_check(body: str) -> str:
    total = sum(_USCC_ALPHA.index(c) * pow(3, i, 31) for i, c in enumerate(body))
    return _USCC_ALPHA[(31 - total % 31) % 31]


def mrz_digit(s: str) -> str:
    w = (7, 3, 1)
    val = 0
    for i, c in enumerate(s):
        v = 0 if c == "<" else int(c) if c.isdigit() else ord(c) - 55
        val += v * w[i % 3]
    return str(val % 10)


def _words(text: str) -> list[str]:
    return text.split()


_REGIONS = ["110105", "110108", "310104", "440305", "330106", "510107", "320102", "420106"]
_CN_SEG = ["130", "135", "138", "139", "150", "152", "158", "177", "186", "189", "199"]
_WORDS_EN = _words(
    "the partner lab shares building energy data with the research team under the agreement "
    "and keeps a log of every transfer for review by both sides each quarter"
)
_WORDS_ZH = _words("根据 合作 协议 双方 共享 建筑 能耗 数据 并 记录 每次 传输 以便 审查")


class Generator:
    """Seeded generator of identifiers, lookalikes and labeled documents."""

    def __init__(self, seed: int = 7):
        self.r = random.Random(seed)

    def digits(self, n: int) -> str:
        return "".join(self.r.choice(string.digits) for _ in range(n))

    # ---- valid identifiers -------------------------------------------------------------
    def credit_card(self) -> str:
        prefix, n = self.r.choice(
            [
                ("4", 16),
                ("51", 16),
                ("55", 16),
                ("2221", 16),
                ("34", 15),
                ("37", 15),
                ("6011", 16),
                ("65", 16),
                ("3530", 16),
                ("62", 16),
                ("62", 19),
                ("36", 14),
            ]
        )
        body = prefix + self.digits(n - len(prefix) - 1)
        num = body + luhn_digit(body)
        style = self.r.random()
        if n == 16 and style < 0.3:
            sep = self.r.choice([" ", "-"])
            return sep.join(num[i : i + 4] for i in range(0, 16, 4))
        return num

    def iban(self) -> str:
        cc, bban = self.r.choice(
            [
                ("DE", self.digits(18)),
                (
                    "GB",
                    "".join(self.r.choice(string.ascii_uppercase) for _ in range(4))
                    + self.digits(14),
                ),
                (
                    "NL",
                    "".join(self.r.choice(string.ascii_uppercase) for _ in range(4))
                    + self.digits(10),
                ),
                ("AT", self.digits(16)),
                ("CH", self.digits(17)),
            ]
        )
        value = cc + mod97_check(cc, bban) + bban
        if self.r.random() < 0.4:
            return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        return value

    def cn_resident_id(self) -> str:
        y = self.r.randint(1950, 2005)
        body = f"{self.r.choice(_REGIONS)}{y}{self.r.randint(1, 12):02d}{self.r.randint(1, 28):02d}"
        body += self.digits(3)
        check = ric_check(body)
        if check == "X" and self.r.random() < 0.5:
            check = "x"
        return body + check

    def cn_resident_id_15(self) -> str:
        y = self.r.randint(50, 99)
        return (
            f"{self.r.choice(_REGIONS)}{y}{self.r.randint(1, 12):02d}{self.r.randint(1, 28):02d}"
            + self.digits(3)
        )

    def cn_uscc(self) -> str:
        org = "".join(self.r.choice(_USCC_ALPHA) for _ in range(9))
        body = "91" + self.r.choice(_REGIONS) + org
        return body + uscc_check(body)

    def cn_uscc_letter(self) -> str:
        """A USCC whose registration authority is a letter (A: CMC, N: agriculture, Y: other)."""
        org = "".join(self.r.choice(_USCC_ALPHA) for _ in range(9))
        body = self.r.choice(["A1", "A9", "N2", "N3", "Y1"]) + self.r.choice(_REGIONS) + org
        return body + uscc_check(body)

    def passport_number(self) -> str:
        return self.r.choice(
            [
                "E" + self.digits(8),
                "G" + self.digits(8),
                "E" + self.r.choice("ABCDEFGH") + self.digits(7),
                self.r.choice("123456789") + self.digits(8),
                self.r.choice("CFGHJK")
                + "".join(self.r.choice("CFGHJK0123456789") for _ in range(8)),
            ]
        )

    def cn_mobile(self) -> str:
        num = self.r.choice(_CN_SEG) + self.digits(8)
        style = self.r.random()
        if style < 0.3:
            return f"+86 {num[:3]} {num[3:7]} {num[7:]}"
        if style < 0.5:
            return f"{num[:3]}-{num[3:7]}-{num[7:]}"
        return num

    def us_ssn(self) -> str:
        area = self.r.choice([a for a in range(1, 900) if a != 666])
        return f"{area:03d}-{self.r.randint(1, 99):02d}-{self.r.randint(1, 9999):04d}"

    def us_itin(self) -> str:
        group = self.r.choice([*range(50, 66), *range(70, 89), 90, 91, 92, *range(94, 100)])
        return f"9{self.digits(2)}-{group}-{self.r.randint(0, 9999):04d}"

    def us_ein(self) -> str:
        prefix = self.r.choice([10, 12, 20, 27, 35, 46, 54, 61, 74, 84, 94, 98])
        return f"{prefix:02d}-{self.digits(7)}"

    def aba_routing(self) -> str:
        prefix = self.r.choice([*range(1, 13), *range(21, 33), *range(61, 73)])
        body = f"{prefix:02d}" + self.digits(6)
        d = [int(c) for c in body]
        s = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5])
        return body + str((10 - s % 10) % 10)

    def phone(self) -> str:
        return self.r.choice(
            [
                f"+1 {self.r.choice(['415', '212', '617'])} {self.r.randint(200, 999)} "
                f"{self.digits(4)}",
                f"+44 20 7{self.digits(3)} {self.digits(4)}",
                f"+49 30 {self.digits(8)}",
                f"+33 1 {self.digits(2)} {self.digits(2)} {self.digits(2)} {self.digits(2)}",
                f"+81 3 {self.digits(4)} {self.digits(4)}",
            ]
        )

    def email(self) -> str:
        local = self.r.choice(["alice", "bob.smith", "li.wei", "j_doe", "zhang.san", "ops+dta"])
        domain = self.r.choice(["example.com", "lab.example.org", "uni.edu.cn", "corp.co.uk"])
        return f"{local}{self.r.randint(1, 999)}@{domain}"

    def ipv4(self) -> str:
        return ".".join(str(self.r.randint(1, 254)) for _ in range(4))

    def ipv6(self) -> str:
        groups = [f"{self.r.randint(0, 0xFFFF):x}" for _ in range(8)]
        if self.r.random() < 0.5:
            return "2001:db8::" + ":".join(groups[:3])
        return ":".join(groups)

    def passport_mrz(self) -> str:
        name = self.r.choice(["ERIKSSON<<ANNA<MARIA", "WANG<<XIAOMING", "SMITH<<JOHN<PAUL"])
        line1 = ("P<" + self.r.choice(["UTO", "CHN", "USA", "DEU"]) + name).ljust(44, "<")
        doc = "".join(self.r.choice(string.ascii_uppercase + string.digits) for _ in range(9))
        dob = f"{self.r.randint(50, 99)}{self.r.randint(1, 12):02d}{self.r.randint(1, 28):02d}"
        exp = f"{self.r.randint(26, 35)}{self.r.randint(1, 12):02d}{self.r.randint(1, 28):02d}"
        personal = "<" * 14
        nat = line1[2:5]
        line2 = doc + mrz_digit(doc) + nat + dob + mrz_digit(dob) + self.r.choice("MF")
        line2 += exp + mrz_digit(exp) + personal + "<"
        composite = line2[0:10] + line2[13:20] + line2[21:43]
        return line1 + "\n" + line2 + mrz_digit(composite)

    def private_key(self) -> str:
        body = base64.b64encode(self.r.randbytes(600)).decode()
        lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
        label = self.r.choice(["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"])
        return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----"

    def aws_access_key(self) -> str:
        return self.r.choice(["AKIA", "ASIA"]) + "".join(
            self.r.choice(string.ascii_uppercase + "234567") for _ in range(16)
        )

    def jwt(self) -> str:
        def seg(obj: dict[str, object]) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

        sig = base64.urlsafe_b64encode(self.r.randbytes(32)).decode().rstrip("=")
        header = seg({"alg": "HS256", "typ": "JWT"})
        claims = seg({"sub": self.r.randint(1, 10**6), "iat": 1700000000})
        return f"{header}.{claims}.{sig}"

    def secret_value(self) -> str:
        alphabet = string.ascii_letters + string.digits + "#%_-"
        return "".join(self.r.choice(alphabet) for _ in range(self.r.randint(16, 32)))

    # ---- lookalikes and near-misses ------------------------------------------------------
    def bad_card(self) -> str:
        good = self.credit_card().replace(" ", "").replace("-", "")
        return good[:-1] + str((int(good[-1]) + self.r.randint(1, 9)) % 10)

    def bad_iban(self) -> str:
        good = self.iban().replace(" ", "")
        return good[:2] + f"{(int(good[2:4]) + self.r.randint(1, 50)) % 97 + 2:02d}" + good[4:]

    def bad_cn_id(self) -> str:
        good = self.cn_resident_id().upper()
        alts = [c for c in "0123456789X" if c != good[-1]]
        return good[:-1] + self.r.choice(alts)

    def bad_uscc(self) -> str:
        good = self.cn_uscc()
        return good[:-1] + self.r.choice([c for c in _USCC_ALPHA if c != good[-1]])

    def bad_aba(self) -> str:
        good = self.aba_routing()
        return good[:-1] + str((int(good[-1]) + self.r.randint(1, 9)) % 10)

    def bad_mrz(self) -> str:
        good = self.passport_mrz()
        line1, line2 = good.split("\n")
        wrong = str((int(line2[9]) + self.r.randint(1, 9)) % 10)
        return line1 + "\n" + line2[:9] + wrong + line2[10:]

    def near_miss(self) -> str:
        return self.r.choice(
            [
                f"order number {self.digits(16)}",
                f"订单号 {self.digits(18)}",
                f"timestamp {self.r.randint(1_600_000_000_000, 1_800_000_000_000)}",
                f"released 2024-0{self.r.randint(1, 9)}-1{self.r.randint(0, 9)}T12:30:45Z",
                f"version {self.r.randint(1, 20)}.{self.r.randint(0, 9)}.{self.r.randint(0, 30)}",
                f"build 10.0.{self.digits(5)}.{self.digits(4)}",
                f"sha256 {self.r.randbytes(32).hex()}",
                f"amount {self.r.randint(1, 999)},{self.digits(3)},{self.digits(3)}."
                f"{self.digits(2)}",
                f"ISBN 978-{self.r.randint(0, 9)}-{self.digits(2)}-{self.digits(6)}-"
                f"{self.r.randint(0, 9)}",
                f"uuid {self.r.randbytes(16).hex()}",
                f"SKU {self.digits(3)}-{self.digits(2)}-{self.digits(4)}",
                f"tracking {self.digits(12)}",
                f"room {self.digits(3)} ext {self.digits(4)}",
                "password: changeme",
                "token = ${API_TOKEN}",
                "keep this confidential between us",
                "内部网络 分析",
                "the secret of good data is care",
                "pkg@1.2.3",
                f"passport issued {self.r.randint(2010, 2024)}0{self.r.randint(1, 9)}"
                f"1{self.r.randint(0, 9)}",
                "passport photo 2x2 in, 35x45 mm",
                f"passport office room {self.digits(3)}",
                "std::vector<int>",
            ]
        )


# (type, generator attribute, English templates, Chinese templates). {v} is the value.
TEMPLATES: list[tuple[str, str, list[str], list[str]]] = [
    (
        "credit_card",
        "credit_card",
        ["Card number {v} was charged.", "Please pay with {v} today."],
        ["卡号{v}。", "信用卡 {v} 已扣款"],
    ),
    (
        "iban",
        "iban",
        ["Wire to IBAN {v} by Friday.", "Account {v} receives the grant."],
        ["收款账户{v}，请核对。"],
    ),
    (
        "cn_resident_id",
        "cn_resident_id",
        ["Resident ID {v} on file.", "ID {v}"],
        ["身份证号码{v}，", "公民身份号码：{v}"],
    ),
    ("cn_resident_id", "cn_resident_id_15", ["old resident id card {v}"], ["旧身份证{v}"]),
    (
        "cn_uscc",
        "cn_uscc",
        ["Supplier USCC {v}.", "business license {v}"],
        ["统一社会信用代码{v}", "营业执照：{v}"],
    ),
    (
        "cn_mobile",
        "cn_mobile",
        ["mobile {v}", "Reach Li at {v} after 6pm."],
        ["手机{v}", "联系电话：{v}"],
    ),
    ("us_ssn", "us_ssn", ["SSN: {v}", "social security number {v} verified"], ["社会安全号 {v}"]),
    (
        "us_itin",
        "us_itin",
        ["ITIN {v} issued", "taxpayer number (ITIN): {v}"],
        ["纳税人识别号 ITIN {v}"],
    ),
    ("us_ein", "us_ein", ["Employer EIN {v}.", "federal tax id (EIN) {v}"], ["雇主识别号 EIN {v}"]),
    (
        "aba_routing",
        "aba_routing",
        ["ABA routing number {v}", "routing {v} for ACH"],
        ["银行路由号 routing {v}"],
    ),
    ("phone", "phone", ["Call {v} for support.", "phone: {v}"], ["电话{v}"]),
    ("email", "email", ["Write to {v} please.", "contact {v}"], ["邮箱{v}，", "请发邮件到{v}。"]),
    ("ipv4", "ipv4", ["server at {v} is up", "allow host {v}"], ["服务器地址{v}"]),
    ("ipv6", "ipv6", ["IPv6 address {v} assigned", "host {v} ok"], ["地址{v}。"]),
    ("cn_uscc", "cn_uscc_letter", ["registration credit code {v}"], ["统一社会信用代码：{v}"]),
    ("passport_mrz", "passport_mrz", ["Passport MRZ:\n{v}\nend"], ["护照机读区：\n{v}\n"]),
    (
        "passport_number",
        "passport_number",
        ["Passport No. {v} expires 2031.", "passport number: {v}", "PASSPORT # {v}"],
        ["护照号码：{v}", "护照号 {v}"],
    ),
    ("private_key", "private_key", ["key follows\n{v}\n"], ["私钥如下\n{v}\n"]),
    (
        "aws_access_key",
        "aws_access_key",
        ["aws key id {v} rotated", "AWS_ACCESS_KEY_ID={v}"],
        ["密钥ID {v}"],
    ),
    ("jwt", "jwt", ["Authorization: Bearer {v}", "token {v} expired"], ["令牌 {v}"]),
]
SECRET_TEMPLATES = [
    'password = "{v}"',
    "API_KEY={v}",
    '"client_secret": "{v}"',
    "db_passwd: {v}",
    "密码：{v}",
    "secret_token={v}",
]
MARKINGS = [
    (
        "eccn",
        [
            "ECCN 5A002",
            "ECCN: 3A001.a.1",
            "classified EAR99 under the EAR",
            "export classification 9E003 (ECCN)",
            "USML Category XI",
            "subject to ITAR",
            "出口管制编码 ECCN 4A003",
        ],
    ),
    ("tlp_label", ["TLP:RED", "TLP:AMBER", "TLP:AMBER+STRICT", "TLP:GREEN", "TLP:CLEAR"]),
    ("cui_marking", ["CUI\n", "CUI//SP-PRVCY\n", "CONTROLLED UNCLASSIFIED INFORMATION"]),
    (
        "confidential_legend",
        [
            "PROPRIETARY",
            "CONFIDENTIAL",
            "TRADE SECRET",
            "Company Confidential",
            "商业秘密",
            "【内部】资料",
            "机密★10年",
            "秘密★",
            "绝密文件",
        ],
    ),
]
LOOKALIKES: list[tuple[str, Callable[[Generator], str], str]] = [
    ("credit_card", Generator.bad_card, "card number {v}"),
    ("iban", Generator.bad_iban, "IBAN {v}"),
    ("cn_resident_id", Generator.bad_cn_id, "身份证号码{v}"),
    ("cn_uscc", Generator.bad_uscc, "统一社会信用代码{v}"),
    ("aba_routing", Generator.bad_aba, "routing number {v}"),
    ("passport_mrz", Generator.bad_mrz, "passport\n{v}\n"),
]


def _filler(g: Generator, zh: bool) -> str:
    words = _WORDS_ZH if zh else _WORDS_EN
    sep = "" if zh else " "
    return sep.join(g.r.choice(words) for _ in range(g.r.randint(3, 9)))


def prose(g: Generator, per_template: int = 12) -> Doc:
    """One long document of English and Chinese sentences with labeled values."""
    pieces: list[tuple[str, str | None, str]] = []  # (text, type or None, value)
    for type_id, attr, en, zh in TEMPLATES:
        for i in range(per_template):
            zh_mode = i % 3 == 2
            tpl = g.r.choice(zh if zh_mode else en)
            pieces.append((tpl, type_id, getattr(g, attr)()))
    for i in range(per_template * 2):
        pieces.append((g.r.choice(SECRET_TEMPLATES), "secret_assignment", g.secret_value()))
        del i
    for type_id, values in MARKINGS:
        for v in values:
            pieces.append(("{v}", type_id, v))
    for type_id, fn, tpl in LOOKALIKES:
        for _ in range(per_template):
            pieces.append((tpl, None, fn(g)))
        del type_id
    for _ in range(per_template * 12):
        pieces.append(("{v}", None, g.near_miss()))
    g.r.shuffle(pieces)
    doc = Doc("")
    parts: list[str] = []
    pos = 0
    for tpl, type_id, value in pieces:
        zh = any("\u4e00" <= c <= "\u9fff" for c in tpl)
        lead = _filler(g, zh) + ("，" if zh else ". ")
        before, _, after = tpl.partition("{v}")
        chunk = lead + before
        start = pos + len(chunk)
        chunk += value + after + ("。\n" if zh else ".\n")
        if type_id is not None:
            doc.labels.append(Labeled(type_id, start, start + len(value), value))
        parts.append(chunk)
        pos += len(chunk)
    doc.text = "".join(parts)
    return doc


CSV_COLUMNS = [
    ("name", None, lambda g: g.r.choice(["Alice", "Bob", "李伟", "张三"])),
    ("card_number", "credit_card", Generator.credit_card),
    ("iban", "iban", Generator.iban),
    ("身份证号", "cn_resident_id", Generator.cn_resident_id),
    ("ssn", "us_ssn", Generator.us_ssn),
    ("mobile", "cn_mobile", Generator.cn_mobile),
    ("email", "email", Generator.email),
    ("order_no", None, lambda g: g.digits(16)),
    ("created", None, lambda g: f"2024-0{g.r.randint(1, 9)}-1{g.r.randint(0, 9)} 12:30:45"),
    ("version", None, lambda g: f"{g.r.randint(1, 9)}.{g.r.randint(0, 9)}.{g.r.randint(0, 9)}"),
]


def csv_rows(g: Generator, rows: int) -> tuple[str, list[tuple[int, str, str, str]]]:
    """CSV text and labels ``(row, column, type, value)`` (rows 1-based after the header)."""
    import csv
    import io

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow([c for c, _, _ in CSV_COLUMNS])
    labels = []
    for row in range(1, rows + 1):
        values = []
        for name, type_id, fn in CSV_COLUMNS:
            v = fn(g)
            values.append(v)
            if type_id is not None:
                labels.append((row, name, type_id, v))
        w.writerow(values)
    return out.getvalue(), labels


def json_records(g: Generator, n: int) -> tuple[str, list[tuple[str, str, str]]]:
    """A JSON document and labels ``(pointer, type, value)``."""
    records = []
    labels = []
    for i in range(n):
        rec = {
            "id": i,
            "contact": {"email": g.email(), "phone": g.phone()},
            "identity": {
                "passport_no": g.r.choice(["E", "G"]) + g.digits(8),
                "resident_id": g.cn_resident_id(),
            },
            "company": {"uscc": g.cn_uscc(), "ein": g.us_ein()},
            "build": f"10.0.{g.digits(5)}.{g.digits(3)}",
            "updated": g.r.randint(1_600_000_000, 1_800_000_000),
        }
        records.append(rec)
        labels += [
            (f"/records/{i}/contact/email", "email", rec["contact"]["email"]),
            (f"/records/{i}/contact/phone", "phone", rec["contact"]["phone"]),
            (
                f"/records/{i}/identity/resident_id",
                "cn_resident_id",
                rec["identity"]["resident_id"],
            ),
            (f"/records/{i}/company/uscc", "cn_uscc", rec["company"]["uscc"]),
            (
                f"/records/{i}/identity/passport_no",
                "passport_number",
                rec["identity"]["passport_no"],
            ),
            (f"/records/{i}/company/ein", "us_ein", rec["company"]["ein"]),
        ]
    return json.dumps({"records": records}, ensure_ascii=False, indent=1), labels
