"""Scanner details on small inline trees: Express, Flask, Django, Prisma, the pages router, SQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from specpipe.inventory import scan_codebase
from specpipe.inventory.files import SourceFile
from specpipe.inventory.sql_scan import scan_prisma, scan_sql


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.unit
def test_express_and_prisma(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "package.json": json.dumps({"dependencies": {"express": "4.19.2", "@prisma/client": "5.16.0"}}),
            "src/server.js": "const app = express();\napp.get('/health', h);\nrouter.post(\"/api/orders\", create);\n",
            "src/db.ts": "import { PrismaClient } from '@prisma/client';\nexport const prisma = new PrismaClient();\n"
            "export function getPrisma() { return prisma; }\n",
            "prisma/schema.prisma": "model Order {\n  id Int @id\n  total Decimal\n  @@index([total])\n}\n",
        },
    )
    inv = scan_codebase(root)
    assert [f["name"] for f in inv["frameworks"]] == ["Express"]
    assert {(r["method"], r["path"]) for r in inv["routes"]} == {("GET", "/health"), ("POST", "/api/orders")}
    assert inv["database"]["clients"][0]["kind"] == "prisma"
    assert inv["database"]["tables"] == [
        {"name": "Order", "columns": ["id", "total"], "defined_in": ["prisma/schema.prisma:1"], "used_in": []}
    ]


@pytest.mark.unit
def test_flask_blueprint_prefix_and_django_model(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "requirements.txt": "flask==3.0.3\ndjango==5.0.6\n",
            "web/views.py": "from flask import Blueprint\nbp = Blueprint('x', __name__, url_prefix='/shop')\n\n"
            "@bp.route('/cart', methods=['GET', 'POST'])\ndef cart():\n    return ''\n",
            "web/app.py": "from web.views import bp\napp.register_blueprint(bp, url_prefix='/v1')\n",
            "shop/models.py": "from django.db import models\n\nclass Product(models.Model):\n"
            "    name = models.CharField(max_length=80)\n    price = models.DecimalField()\n",
        },
    )
    inv = scan_codebase(root)
    assert {f["name"] for f in inv["frameworks"]} == {"Django", "Flask"}
    assert {(r["method"], r["path"]) for r in inv["routes"]} == {
        ("GET", "/v1/shop/cart"),
        ("POST", "/v1/shop/cart"),
    }
    assert inv["database"]["tables"][0]["name"] == "product"
    assert inv["database"]["tables"][0]["columns"] == ["name", "price"]


@pytest.mark.unit
def test_next_pages_router(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "package.json": json.dumps({"dependencies": {"next": "13.5.0"}}),
            "pages/index.tsx": "export default function Home() { return null }\n",
            "pages/_app.tsx": "export default function App() { return null }\n",
            "pages/api/users/[id].ts": "export default function handler(req, res) {}\n",
        },
    )
    inv = scan_codebase(root)
    assert inv["frameworks"][0]["router"] == "pages"
    assert {(r["method"], r["path"]) for r in inv["routes"]} == {("PAGE", "/"), ("ANY", "/api/users/[id]")}


@pytest.mark.unit
def test_sql_comments_constraints_and_quoted_names() -> None:
    sql = (
        "-- create table ignored (x int);\n"
        'CREATE TABLE IF NOT EXISTS "public"."Invoices" (\n'
        "  id bigint generated always as identity,\n"
        "  amount numeric(10, 2) not null,\n"
        "  primary key (id),\n"
        "  constraint amount_positive check (amount > 0)\n"
        ");\n"
        "ALTER TABLE ONLY public.invoices ADD COLUMN IF NOT EXISTS paid_at timestamptz;\n"
        "/* alter table invoices add column ghost int; */\n"
        "alter table invoices add column a int, add b text, drop column if exists amount,\n"
        "  add constraint c unique (a), rename column paid_at to settled_at;\n"
    )
    found = scan_sql(SourceFile("m.sql", sql))
    assert found.tables == [("Invoices", ["id", "amount"], 2)]
    assert [(c.table, c.action, c.column, c.new, c.line) for c in found.changes] == [
        ("invoices", "add", "paid_at", "", 8),
        ("invoices", "add", "a", "", 10),
        ("invoices", "add", "b", "", 10),
        ("invoices", "drop", "amount", "", 10),
        ("invoices", "rename", "paid_at", "settled_at", 10),
    ]
    assert found.buckets == []
    assert scan_prisma(SourceFile("s.prisma", "// none\n")) == []


@pytest.mark.unit
def test_alembic_constraints_are_not_columns(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "db/migrations/versions/0001_x.py": "import sqlalchemy as sa\nfrom alembic import op\n\n\ndef upgrade():\n"
            "    op.create_table('runs', sa.Column('id', sa.Integer()), sa.Column('name', sa.String()),\n"
            "                    sa.PrimaryKeyConstraint('id'), sa.UniqueConstraint('name'))\n",
        },
    )
    inv = scan_codebase(root)
    assert inv["database"]["tables"][0]["columns"] == ["id", "name"]
    assert inv["database"]["migrations"] == [
        {
            "dir": "db/migrations/versions",
            "tool": "alembic",
            "count": 1,
            "naming": "NNNN_<name>.py",
            "evidence": ["db/migrations/versions/0001_x.py"],
            "confidence": "high",
        }
    ]


TRICKY_TS = """// export function commentedOut() {}
export async function load(id: string, opts = defaults(), cb = (x: number) => x) {}
export const handler = async (req: Request) => new Response();
export const { a, b } = pair();
export default function () {}
"""


@pytest.mark.unit
def test_tree_sitter_reads_what_regexes_cut_short() -> None:
    pytest.importorskip("tree_sitter_typescript")
    from specpipe.inventory.ts_parse import parse_module

    parsed = parse_module(TRICKY_TS, ".ts")
    assert parsed is not None
    assert [(s.name, s.signature, s.line) for s in parsed.exports] == [
        ("load", "async load(id: string, opts = defaults(), cb = (x: number) => x)", 2),
        ("handler", "async handler(req: Request)", 3),
        ("a", "a", 4),
        ("b", "b", 4),
        ("default", "default()", 5),
    ]


@pytest.mark.unit
def test_regex_fallback_finds_the_same_simple_exports() -> None:
    from specpipe.inventory.js_scan import regex_exports

    text = "export async function requireUser() {}\nexport const Card = () => null;\nexport type T = {};\n"
    found = [(s.name, s.kind, s.signature) for s in regex_exports(SourceFile("a.ts", text))]
    assert found == [
        ("requireUser", "function", "async requireUser()"),
        ("Card", "function", "Card()"),
        ("T", "type", "T"),
    ]


@pytest.mark.unit
def test_drizzle_schema_tables_and_migration_folder(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "package.json": json.dumps({"dependencies": {"drizzle-orm": "0.33.0", "postgres": "3.4.4"}}),
            "drizzle.config.ts": 'export default { schema: "./src/db/schema.ts", out: "./src/db/migrations" };\n',
            "src/db/schema.ts": 'import { pgTable, serial, text } from "drizzle-orm/pg-core";\n'
            'export const users = pgTable("users", {\n  id: serial("id").primaryKey(),\n'
            '  email: text("email").notNull().default(sql`a, b: c`),\n}, (t) => ({ idx: index("i").on(t.email) }));\n',
            "src/db/index.ts": 'import { drizzle } from "drizzle-orm/postgres-js";\nimport postgres from "postgres";\n'
            "export const db = drizzle(postgres(process.env.DATABASE_URL!));\n",
            "src/db/migrations/0000_init.sql": 'CREATE TABLE IF NOT EXISTS "users" ("id" serial PRIMARY KEY, "email" text);\n',
            "src/scripts/dump.sql": "create table users_copy (id int);\n",
        },
    )
    inv = scan_codebase(root)
    tables = {t["name"]: t for t in inv["database"]["tables"]}
    assert set(tables) == {"users"} and tables["users"]["columns"] == ["id", "email"]
    assert "src/db/schema.ts:2" in tables["users"]["defined_in"]
    assert [(m["dir"], m["tool"]) for m in inv["database"]["migrations"]] == [
        ("src/db/migrations", "drizzle")
    ]
    assert [(c["file"], c["kind"]) for c in inv["database"]["clients"]] == [("src/db/index.ts", "drizzle")]
    assert [x["file"] for x in inv["database"]["sql_outside_migrations"]] == ["src/scripts/dump.sql"]
