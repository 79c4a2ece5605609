"""The seeded catalog behind the Plytix stand-in: attribute definitions, families, a category tree,
assets and products, generated deterministically from a seed.

Why a separate module: the demo, the rules' tests and the sandbox server all need to know what the
catalog contains (which attribute labels exist, what the workflow stages are called, which products
have gaps) without starting a server. Everything here is plain data; the HTTP behaviour lives in
`sandbox/plytix.py`.

Catalog reference (other code and the demo rely on these names)
------------------------------------------------------------------
Families (product_family_id is a stable 24-hex id, see `Catalog.family_by_name`):
    Apparel, Footwear (both have PARENT products with VARIANTs by size), Home, Electronics.

Categories (two levels, `path` is the list of names from the root):
    Apparel > Tops | Bottoms | Outerwear        Footwear > Sneakers | Boots | Sandals
    Home > Kitchen | Living | Decor             Electronics > Audio | Power | Smart Home

Locales: Plytix has no locale concept in its API. Translations are separate attributes by convention,
one per locale, with the locale code as suffix (`name_de`, `description_fr`, ...). LOCALES lists them.

Custom attributes (label: Plytix type_class):
    name_en, name_de, name_fr                       TextAttribute       product name per locale
    description_en, description_de, description_fr  MultilineAttribute  long description per locale
    short_description                               TextAttribute
    description_html                                HtmlAttribute       rich description for web shops
    images                                          MediaGalleryAttribute  list of asset dicts
    main_image                                      MediaAttribute      one asset dict
    brand                                           DropdownAttribute   BRANDS
    workflow_stage                                  DropdownAttribute   WORKFLOW_STAGES, in order
    color, size                                     DropdownAttribute   COLORS, SIZES (size on variants)
    channels                                        MultiSelectAttribute  CHANNELS a product is sold on
    material                                        TextAttribute
    weight_kg                                       DecimalAttribute
    warranty_months                                 IntAttribute        Electronics
    safety_warning                                  MultilineAttribute  regulated text (Home, Electronics)
    amazon_title                                    TextAttribute       Amazon caps titles at 200 chars
    amazon_bullets                                  MultilineAttribute  five lines, one per bullet
    launch_date                                     DateAttribute       YYYY-MM-DD
    video_url                                       UrlAttribute
    discontinued                                    BooleanAttribute
    content_completeness                            CompletenessAttribute  0-100 over COMPLETENESS_OF,
                                                    recomputed by the sandbox on every write
    review_status                                   DropdownAttribute   REVIEW_STATUSES (job 3's hold; unset)
System fields: id, sku, label, status (Draft/Completed/Archived only), created, modified, gtin (EAN-13),
num_variations, _parent_id, product_family_id, product_type (SINGLE/PARENT/VARIANT), product_level
(0/1/2), thumbnail, assets, categories.

Seeded defects (deterministic, so rules have something to find):
- gaps: exactly round(gap_rate * products) products miss 1-3 of GAP_CANDIDATES (descriptions, images,
  translations); every other product has all of them;
- about 1 in 25 products has an amazon_title longer than AMAZON_TITLE_MAX;
- about 1 in 100 products repeats the GTIN of the product before it; about 1 in 200 has a SKU that is a
  lower-case variant of another product's SKU (SKUs are case-sensitive, so both exist).
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Optional

# Amazon Seller Central, "Product title requirements and guidelines" (help page 201100890):
# "Titles must not exceed 200 characters, including spaces."
AMAZON_TITLE_MAX = 200

LOCALES = ("en", "de", "fr")
WORKFLOW_STAGES = ("draft", "enrichment", "approved", "ready_for_syndication", "published")
BRANDS = ("Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware")
COLORS = ("Black", "White", "Navy", "Olive", "Sand", "Red")
SIZES = ("XS", "S", "M", "L", "XL", "38", "39", "40", "41", "42", "43", "44", "45")
CHANNELS = ("amazon", "shopify", "zalando")
REVIEW_STATUSES = ("pending", "approved")  # the review hold of job 3 (no product has one when seeded)
STATUSES = ("Draft", "Completed", "Archived")  # the only values Plytix accepts for `status`

# Attributes that look required to a content team: the seeded gaps are drawn from these.
GAP_CANDIDATES = ("description_en", "description_de", "description_fr", "name_de", "name_fr",
                  "short_description", "images", "main_image")
# What the CompletenessAttribute `content_completeness` scores (share of these that are filled).
COMPLETENESS_OF = GAP_CANDIDATES + ("description_html", "amazon_title", "weight_kg")

# Timestamps of seeded products lie in the year before this instant, so any write made at run time is
# later than every seeded `modified`.
SEED_EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)

_FILES_ROOT = "https://files.plytix.com/api/v1.1"  # shape of real asset URLs; never contacted


@dataclass(frozen=True)
class AttributeDef:
    """One custom product attribute, as `POST /api/v1/attributes/product/search` describes it."""

    id: str
    label: str
    name: str
    type_class: str
    group_id: str
    options: tuple[str, ...] = ()
    completeness_of: tuple[str, ...] = ()

    def as_api(self, ids_by_label: dict[str, str]) -> dict[str, Any]:
        """The attribute as the attributes search endpoint returns it."""
        item: dict[str, Any] = {"id": self.id, "label": self.label, "name": self.name,
                                "type_class": self.type_class, "filter_type": FILTER_TYPES[self.type_class],
                                "groups": [self.group_id]}
        if self.options:
            item["options"] = list(self.options)
        if self.completeness_of:
            item["attributes"] = [{"id": ids_by_label[label], "label": label} for label in self.completeness_of]
        return item


# type_class -> filter_type, as `GET /api/v1/filters/product` reports them (Postman collection: rich text
# and multiline filter as TextAttribute, completeness as DecimalAttribute).
FILTER_TYPES = {
    "TextAttribute": "TextAttribute", "MultilineAttribute": "TextAttribute", "HtmlAttribute": "TextAttribute",
    "UrlAttribute": "TextAttribute", "IntAttribute": "DecimalAttribute", "DecimalAttribute": "DecimalAttribute",
    "CompletenessAttribute": "DecimalAttribute", "DropdownAttribute": "DropdownAttribute",
    "MultiSelectAttribute": "MultiSelectAttribute", "DateAttribute": "DateAttribute",
    "BooleanAttribute": "BooleanAttribute", "MediaAttribute": "MediaAttribute",
    "MediaGalleryAttribute": "MediaGalleryAttribute",
}


@dataclass(frozen=True)
class Family:
    id: str
    name: str
    attribute_labels: tuple[str, ...]
    created: str


@dataclass(frozen=True)
class Category:
    id: str
    name: str
    path: tuple[str, ...]
    parents_ids: tuple[str, ...]
    order: int

    def as_link(self) -> dict[str, Any]:
        """How a product shows its category: `{id, name, path}`."""
        return {"id": self.id, "name": self.name, "path": list(self.path)}


@dataclass
class Catalog:
    """Everything the stand-in serves. `products` is in insertion order (the API's unordered order)."""

    attributes: dict[str, AttributeDef]
    families: dict[str, Family]
    categories: dict[str, Category]
    assets: dict[str, dict[str, Any]]
    products: list[dict[str, Any]]
    gapped_ids: frozenset[str] = field(default_factory=frozenset)

    def family_by_name(self, name: str) -> Family:
        return next(f for f in self.families.values() if f.name == name)


def iso(moment: datetime) -> str:
    """Plytix's timestamp format: ISO 8601, microseconds, explicit +00:00."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def is_empty(value: Any) -> bool:
    """Plytix treats null, "" and empty lists as 'no value' (GET omits them, `exists` is false)."""
    return value is None or value == "" or value == [] or value == {}


def completeness(attributes: dict[str, Any]) -> float | int:
    """The `content_completeness` score: share of COMPLETENESS_OF that is filled, 0-100."""
    filled = sum(1 for label in COMPLETENESS_OF if not is_empty(attributes.get(label)))
    score = 100 * filled / len(COMPLETENESS_OF)
    return int(score) if score.is_integer() else score


class IdSource:
    """24-hex ids (Plytix ids look like MongoDB ObjectIds), deterministic from a seed."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"ids-{seed}")
        self._seen: set[str] = set()

    def new(self) -> str:
        while True:
            value = f"{self._rng.getrandbits(96):024x}"
            if value not in self._seen:
                self._seen.add(value)
                return value


# ---------------------------------------------------------------------------------------------------
# Static definitions
# ---------------------------------------------------------------------------------------------------

_ATTRIBUTE_SPECS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    # label, display name, type_class, group, options
    ("name_en", "Name EN", "TextAttribute", "Content EN", ()),
    ("name_de", "Name DE", "TextAttribute", "Content DE", ()),
    ("name_fr", "Name FR", "TextAttribute", "Content FR", ()),
    ("description_en", "Description EN", "MultilineAttribute", "Content EN", ()),
    ("description_de", "Description DE", "MultilineAttribute", "Content DE", ()),
    ("description_fr", "Description FR", "MultilineAttribute", "Content FR", ()),
    ("short_description", "Short description", "TextAttribute", "Content EN", ()),
    ("description_html", "Description (HTML)", "HtmlAttribute", "Content EN", ()),
    ("images", "Images", "MediaGalleryAttribute", "Media", ()),
    ("main_image", "Main image", "MediaAttribute", "Media", ()),
    ("brand", "Brand", "DropdownAttribute", "Basics", BRANDS),
    ("workflow_stage", "Workflow stage", "DropdownAttribute", "Workflow", WORKFLOW_STAGES),
    ("color", "Color", "DropdownAttribute", "Basics", COLORS),
    ("size", "Size", "DropdownAttribute", "Basics", SIZES),
    ("channels", "Channels", "MultiSelectAttribute", "Channels", CHANNELS),
    ("material", "Material", "TextAttribute", "Basics", ()),
    ("weight_kg", "Weight (kg)", "DecimalAttribute", "Logistics", ()),
    ("warranty_months", "Warranty (months)", "IntAttribute", "Compliance", ()),
    ("safety_warning", "Safety warning", "MultilineAttribute", "Compliance", ()),
    ("amazon_title", "Amazon title", "TextAttribute", "Channels", ()),
    ("amazon_bullets", "Amazon bullet points", "MultilineAttribute", "Channels", ()),
    ("launch_date", "Launch date", "DateAttribute", "Workflow", ()),
    ("video_url", "Video URL", "UrlAttribute", "Media", ()),
    ("discontinued", "Discontinued", "BooleanAttribute", "Workflow", ()),
    ("content_completeness", "Content completeness", "CompletenessAttribute", "Workflow", ()),
    ("review_status", "Review status", "DropdownAttribute", "Compliance", REVIEW_STATUSES),
    # Catalog projects (job 7) write their progress here: the last milestone reached, and in progress/done.
    ("project_stage", "Project stage", "TextAttribute", "Workflow", ()),
    ("project_status", "Project status", "TextAttribute", "Workflow", ()),
)

_COMMON = ("name_en", "name_de", "name_fr", "description_en", "description_de", "description_fr",
           "short_description", "description_html", "images", "main_image", "brand", "workflow_stage",
           "channels", "weight_kg", "amazon_title", "amazon_bullets", "launch_date", "video_url",
           "discontinued", "content_completeness")


@dataclass(frozen=True)
class _FamilySpec:
    name: str
    prefix: str
    extra_attributes: tuple[str, ...]
    subcategories: tuple[str, ...]
    nouns: tuple[tuple[str, str, str], ...]  # (en, de, fr)
    materials: tuple[str, ...]
    variant_sizes: tuple[str, ...]  # empty: no parents/variants in this family
    weight_range: tuple[float, float]


_FAMILIES: tuple[_FamilySpec, ...] = (
    _FamilySpec("Apparel", "AP", ("color", "size", "material"), ("Tops", "Bottoms", "Outerwear"),
                (("T-Shirt", "T-Shirt", "T-shirt"), ("Hoodie", "Kapuzenpullover", "Sweat à capuche"),
                 ("Rain Jacket", "Regenjacke", "Veste de pluie"), ("Chinos", "Chinohose", "Chino"),
                 ("Merino Sweater", "Merinopullover", "Pull en mérinos")),
                ("organic cotton", "merino wool", "recycled polyester", "linen"),
                ("XS", "S", "M", "L", "XL"), (0.15, 1.2)),
    _FamilySpec("Footwear", "FW", ("color", "size", "material"), ("Sneakers", "Boots", "Sandals"),
                (("Sneaker", "Sneaker", "Basket"), ("Trail Runner", "Trailschuh", "Chaussure de trail"),
                 ("Chelsea Boot", "Chelsea-Stiefel", "Bottine Chelsea"), ("Sandal", "Sandale", "Sandale")),
                ("leather", "suede", "recycled mesh", "canvas"),
                ("39", "40", "41", "42", "43", "44"), (0.4, 1.6)),
    _FamilySpec("Home", "HO", ("color", "material", "safety_warning"), ("Kitchen", "Living", "Decor"),
                (("Ceramic Mug", "Keramikbecher", "Mug en céramique"),
                 ("Linen Throw", "Leinendecke", "Plaid en lin"),
                 ("Table Lamp", "Tischleuchte", "Lampe de table"), ("Cutting Board", "Schneidebrett",
                                                                      "Planche à découper")),
                ("stoneware", "oak", "linen", "glass"), (), (0.2, 4.0)),
    _FamilySpec("Electronics", "EL", ("color", "warranty_months", "safety_warning"),
                ("Audio", "Power", "Smart Home"),
                (("Wireless Earbuds", "Kabellose Ohrhörer", "Écouteurs sans fil"),
                 ("Bluetooth Speaker", "Bluetooth-Lautsprecher", "Enceinte Bluetooth"),
                 ("USB-C Charger", "USB-C-Ladegerät", "Chargeur USB-C"), ("Smart Plug", "Smarte Steckdose",
                                                                         "Prise connectée")),
                ("aluminium", "recycled plastic", "silicone"), (), (0.05, 2.5)),
)

_ADJECTIVES = (("Classic", "Klassisch", "Classique"), ("Everyday", "Alltags", "Quotidien"),
               ("Compact", "Kompakt", "Compact"), ("Premium", "Premium", "Premium"),
               ("Lightweight", "Leicht", "Léger"), ("Heritage", "Heritage", "Héritage"))

_FEATURES = ("built to last for years", "designed in Europe", "made with responsibly sourced materials",
             "easy to care for", "tested for everyday use", "backed by a friendly support team")

_SAFETY = ("Keep away from children under 3 years.", "Not suitable for dishwashers.",
           "Contains a lithium-ion battery; do not expose to temperatures above 45 °C.",
           "Use only the supplied power adapter.")


# ---------------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------------


def build_catalog(products: int, seed: int, gap_rate: float) -> Catalog:
    """Generate the whole catalog; the same arguments always give the same catalog, byte for byte."""
    if products < 0:
        raise ValueError("products must be >= 0")
    if not 0.0 <= gap_rate <= 1.0:
        raise ValueError("gap_rate must be between 0 and 1")
    ids = IdSource(seed)
    rng = random.Random(seed)
    attributes = _build_attributes(ids)
    categories, subcategories_by_family = _build_categories(ids)
    families = {}
    for spec in _FAMILIES:
        family = Family(ids.new(), spec.name, _COMMON + spec.extra_attributes,
                        iso(SEED_EPOCH - timedelta(days=400)))
        families[family.id] = family
    builder = _ProductBuilder(rng, ids, attributes, families, subcategories_by_family)
    records = builder.build(products)
    gapped = _seed_gaps(rng, records, gap_rate)
    for record in records:
        record["attributes"]["content_completeness"] = completeness(record["attributes"])
    return Catalog(attributes, families, categories, builder.assets, records, frozenset(gapped))


def _build_attributes(ids: IdSource) -> dict[str, AttributeDef]:
    group_ids: dict[str, str] = {}
    result = {}
    for label, name, type_class, group, options in _ATTRIBUTE_SPECS:
        group_id = group_ids.setdefault(group, ids.new())
        result[label] = AttributeDef(ids.new(), label, name, type_class, group_id, options,
                                     COMPLETENESS_OF if type_class == "CompletenessAttribute" else ())
    return result


def _build_categories(ids: IdSource) -> tuple[dict[str, Category], dict[str, list[Category]]]:
    categories: dict[str, Category] = {}
    by_family: dict[str, list[Category]] = {}
    for position, spec in enumerate(_FAMILIES):
        root = Category(ids.new(), spec.name, (spec.name,), (), position)
        categories[root.id] = root
        children = []
        for child_position, name in enumerate(spec.subcategories):
            child = Category(ids.new(), name, (spec.name, name), (root.id,), child_position)
            categories[child.id] = child
            children.append(child)
        by_family[spec.name] = children
    return categories, by_family


def _seed_gaps(rng: random.Random, records: list[dict[str, Any]], gap_rate: float) -> set[str]:
    """Remove 1-3 required-looking attributes from exactly round(gap_rate * N) products."""
    chosen = rng.sample(range(len(records)), round(gap_rate * len(records)))
    for index in sorted(chosen):
        attrs = records[index]["attributes"]
        for label in rng.sample(GAP_CANDIDATES, rng.randint(1, 3)):
            attrs.pop(label, None)
        if "main_image" not in attrs:
            records[index]["thumbnail"] = None
    return {records[i]["id"] for i in chosen}


def ean13(rng: random.Random) -> str:
    """A random EAN-13 with a valid check digit (GS1 mod-10 weights 1,3)."""
    body = "40" + "".join(str(rng.randint(0, 9)) for _ in range(10))
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


class _ProductBuilder:
    """Builds product records in insertion order: parents are followed by their variants."""

    def __init__(self, rng: random.Random, ids: IdSource, attributes: dict[str, AttributeDef],
                 families: dict[str, Family], subcategories: dict[str, list[Category]]) -> None:
        self.rng = rng
        self.ids = ids
        self.attributes = attributes
        self.family_ids = {f.name: f.id for f in families.values()}
        self.subcategories = subcategories
        self.assets: dict[str, dict[str, Any]] = {}
        self.records: list[dict[str, Any]] = []
        self._number = 0
        self._clock = SEED_EPOCH - timedelta(days=365)

    def build(self, count: int) -> list[dict[str, Any]]:
        step = timedelta(seconds=max(1.0, 300 * 86400 / max(count, 1)))
        while len(self.records) < count:
            spec = self.rng.choice(_FAMILIES)
            remaining = count - len(self.records)
            variants = 0
            if spec.variant_sizes and remaining >= 3 and self.rng.random() < 0.35:
                variants = min(self.rng.randint(2, 4), remaining - 1)
            self._clock += step
            parent = self._product(spec, "PARENT" if variants else "SINGLE", None)
            for size in self.rng.sample(spec.variant_sizes, variants) if variants else ():
                self._clock += timedelta(seconds=1)
                self._product(spec, "VARIANT", parent, size)
            parent["num_variations"] = variants
        return self.records

    def _product(self, spec: _FamilySpec, product_type: str, parent: Optional[dict[str, Any]],
                 size: Optional[str] = None) -> dict[str, Any]:
        rng = self.rng
        self._number += 1
        created = self._clock + timedelta(microseconds=rng.randint(0, 999_999))
        modified = created + timedelta(days=rng.uniform(0, 30))
        if parent is None:
            sku = f"{spec.prefix}-{self._number:05d}"
            if self.records and rng.random() < 0.005:  # a case variant of an earlier SKU (job 6)
                sku = rng.choice(self.records)["sku"].lower()
                if any(r["sku"] == sku for r in self.records):
                    sku = f"{spec.prefix}-{self._number:05d}"
            attrs, label = self._parent_attributes(spec)
            category_ids = [rng.choice(self.subcategories[spec.name]).id]
        else:
            sku = f"{parent['sku']}-{size}"
            attrs = copy.deepcopy(parent["attributes"])
            attrs["size"] = size
            label = f"{parent['label']} - {size}"
            attrs["name_en"] = label
            category_ids = list(parent["categories"])
        gtin = ean13(rng)
        if self.records and parent is None and rng.random() < 0.01:  # duplicate GTIN (job 6)
            gtin = self.records[-1]["gtin"]
        stage = attrs["workflow_stage"]
        status = "Completed" if stage == "published" else "Draft"
        if rng.random() < 0.02:
            status = "Archived"
        main = attrs.get("main_image")
        record = {
            "id": self.ids.new(), "sku": sku, "label": label, "status": status,
            "created": iso(created), "modified": iso(modified), "gtin": gtin,
            "num_variations": 0, "_parent_id": parent["id"] if parent else None,
            "product_family_id": self.family_ids[spec.name], "product_family_model_id": None,
            "product_type": product_type, "product_level": {"SINGLE": 0, "PARENT": 1, "VARIANT": 2}[product_type],
            "thumbnail": dict(main) if main else None,
            "assets": [self._asset_link(a) for a in attrs.get("images", [])],
            "categories": category_ids, "attributes": attrs,
            "relationships": [], "overwritten_attributes": [],
        }
        self.records.append(record)
        return record

    def _parent_attributes(self, spec: _FamilySpec) -> tuple[dict[str, Any], str]:
        rng = self.rng
        noun = rng.choice(spec.nouns)
        adjective = rng.choice(_ADJECTIVES)
        brand = rng.choice(BRANDS)
        color = rng.choice(COLORS)
        material = rng.choice(spec.materials)
        label = f"{adjective[0]} {noun[0]} {color}"
        features = rng.sample(_FEATURES, 3)
        images = [self._new_asset(label, n) for n in range(rng.randint(1, 4))]
        description = (f"The {label} by {brand} is made of {material}, {features[0]} and {features[1]}. "
                       f"It is {features[2]}.")
        attrs: dict[str, Any] = {
            "name_en": label,
            "name_de": f"{adjective[1]} {noun[1]} {color}",
            "name_fr": f"{noun[2]} {adjective[2].lower()} {color}",
            "description_en": description,
            "description_de": f"{adjective[1]} {noun[1]} von {brand} aus {material}. Langlebig und pflegeleicht.",
            "description_fr": f"{noun[2]} {adjective[2].lower()} de {brand} en {material}. Durable et facile "
                              f"à entretenir.",
            "short_description": f"{adjective[0]} {noun[0].lower()} in {material}",
            "description_html": f"<p>{description}</p><ul>" + "".join(f"<li>{f}</li>" for f in features) + "</ul>",
            "images": images,
            "main_image": dict(images[0]),
            "brand": brand,
            "workflow_stage": rng.choices(WORKFLOW_STAGES, weights=(20, 30, 20, 15, 15))[0],
            "channels": sorted(rng.sample(CHANNELS, rng.randint(1, 3))),
            "weight_kg": round(rng.uniform(*spec.weight_range), 3),
            "amazon_title": self._amazon_title(brand, label, material, features),
            "amazon_bullets": "\n".join(f"{f[0].upper()}{f[1:]}" for f in rng.sample(_FEATURES, 5)),
            "launch_date": (SEED_EPOCH + timedelta(days=rng.randint(-200, 200))).strftime("%Y-%m-%d"),
            "discontinued": rng.random() < 0.05,
        }
        if rng.random() < 0.3:
            attrs["video_url"] = f"https://video.example.com/{spec.prefix.lower()}/{self._number}"
        if "color" in spec.extra_attributes:
            attrs["color"] = color
        if "material" in spec.extra_attributes:
            attrs["material"] = material
        if "warranty_months" in spec.extra_attributes:
            attrs["warranty_months"] = rng.choice((12, 24, 36))
        if "safety_warning" in spec.extra_attributes:
            attrs["safety_warning"] = rng.choice(_SAFETY)
        return attrs, label

    def _amazon_title(self, brand: str, label: str, material: str, features: Iterable[str]) -> str:
        title = f"{brand} {label}, {material}"
        if self.rng.random() < 0.04:  # too long for Amazon (job 5)
            title = f"{title} - " + ", ".join(features) + " - " + ", ".join(_FEATURES)
            title = (title + " - ") * (1 + AMAZON_TITLE_MAX // len(title))
        return title.strip(" -")

    def _new_asset(self, label: str, position: int) -> dict[str, Any]:
        asset_id = self.ids.new()
        filename = f"{label.lower().replace(' ', '-')}-{position + 1}.jpg"
        path = f"public_files/pim/assets/{asset_id[:2]}/{asset_id}/{filename}"
        asset = {"filename": filename, "id": asset_id, "thumb": f"{_FILES_ROOT}/thumb/{path}",
                 "url": f"{_FILES_ROOT}/file/{path}"}
        self.assets[asset_id] = asset
        return dict(asset)

    @staticmethod
    def _asset_link(asset: dict[str, Any]) -> dict[str, Any]:
        """A product's `assets[]` entry: the collection shows `thumbnail` here, `thumb` in media attributes."""
        return {"filename": asset["filename"], "id": asset["id"], "thumbnail": asset["thumb"], "url": asset["url"]}
