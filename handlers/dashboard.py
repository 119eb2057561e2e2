"""Operations of the Dashboard tag: one aggregate statement each (halolight/repositories/dashboard.py).

What each shop-shaped figure is made of, and who sees what, is documented in the spec (the Dashboard tag).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from generated import models
from halolight.context import AuthContext
from halolight.repositories import dashboard

# Measured from the import, which the app does once per process as it builds its routes.
_STARTED = time.monotonic()
PIE_COLORS = {
    "Images": "#3b82f6",
    "Videos": "#8b5cf6",
    "Audio": "#ec4899",
    "Documents": "#10b981",
    "Archives": "#f59e0b",
    "Other": "#6b7280",
}


def _scope(ctx: AuthContext) -> str | None:
    """The whole platform for holders of `users:view` (they may see every account anyway), else the caller."""
    return None if ctx.principal.can("users:view") else ctx.user_id


def _mib(size: int) -> float:
    return round(size / dashboard.MIB, 2)


def _growth(this: int, last: int) -> float:
    if last == 0:
        return 100.0 if this else 0.0
    return round((this - last) * 100 / last, 1)


async def get_dashboard_stats(ctx: AuthContext) -> models.DashboardStats:
    row = await dashboard.stats(ctx.reads, _scope(ctx))
    return models.DashboardStats(
        totalUsers=row.users,
        totalRevenue=_mib(row.bytes),
        totalOrders=row.documents + row.files,
        conversionRate=round(row.active * 100 / row.users, 1) if row.users else 0.0,
        userGrowth=_growth(row.users_this_month, row.users_last_month),
        revenueGrowth=_growth(row.bytes_this_month, row.bytes_last_month),
        orderGrowth=_growth(
            row.documents_this_month + row.files_this_month, row.documents_last_month + row.files_last_month
        ),
    )


async def get_dashboard_visits(ctx: AuthContext) -> models.DashboardVisits:
    rows = await dashboard.visits(ctx.reads, _scope(ctx))
    return models.DashboardVisits(
        data=[models.DashboardVisit(date=r.day, visits=r.visits, pageViews=r.actions) for r in rows]
    )


async def get_dashboard_sales(ctx: AuthContext) -> models.DashboardSales:
    rows = await dashboard.sales(ctx.reads, _scope(ctx))
    return models.DashboardSales(
        data=[models.DashboardSalesMonth(month=r.month, sales=_mib(r.bytes), orders=r.items) for r in rows]
    )


async def get_dashboard_products(ctx: AuthContext) -> models.DashboardProducts:
    rows = await dashboard.largest_folders(ctx.reads, _scope(ctx))
    return models.DashboardProducts(
        data=[
            models.DashboardProduct(id=r.id, name=r.name, sales=r.files, revenue=_mib(r.bytes)) for r in rows
        ]
    )


async def get_dashboard_orders(ctx: AuthContext) -> models.DashboardOrders:
    rows = await dashboard.latest_uploads(ctx.reads, _scope(ctx))
    return models.DashboardOrders(
        data=[
            models.DashboardOrder(
                id=r.id,
                customer=r.owner,
                amount=_mib(r.bytes),
                status=models.DashboardOrderStatus.shared
                if r.shared
                else models.DashboardOrderStatus.private,
                date=r.day,
            )
            for r in rows
        ]
    )


async def get_dashboard_activities(ctx: AuthContext) -> models.DashboardActivities:
    rows = await dashboard.latest_activities(ctx.reads, _scope(ctx))
    return models.DashboardActivities(
        data=[
            models.DashboardActivity(
                id=r.id,
                user=r.actor,
                action=r.action,
                target=f"{r.target_type} {r.target_id}".strip(),
                timestamp=r.at,
            )
            for r in rows
        ]
    )


async def get_dashboard_pie(ctx: AuthContext) -> models.DashboardPie:
    row = await dashboard.file_kinds(ctx.reads, _scope(ctx))
    known = row.images + row.videos + row.audio + row.documents + row.archives
    values = {
        "Images": row.images,
        "Videos": row.videos,
        "Audio": row.audio,
        "Documents": row.documents,
        "Archives": row.archives,
        "Other": row.total - known,
    }
    return models.DashboardPie(
        data=[
            models.DashboardPieSlice(name=models.DashboardFileKind(name), value=value, color=PIE_COLORS[name])
            for name, value in values.items()
        ]
    )


async def get_dashboard_tasks(ctx: AuthContext) -> models.DashboardTasks:
    found = await dashboard.tasks(ctx.reads, ctx.user_id)
    return models.DashboardTasks(
        data=[
            models.DashboardTask(
                id=r.id,
                title=r.title,
                status=models.DashboardTaskStatus(r.status),
                priority=models.DashboardTaskPriority(r.priority),
                dueDate=r.due,
            )
            for r in found.rows
        ],
        stats=models.DashboardTaskStats(**found.counts),
    )


async def get_dashboard_overview(ctx: AuthContext) -> models.DashboardOverview:
    row = await dashboard.counts(ctx.reads, _scope(ctx))
    return models.DashboardOverview(
        system=_system(ctx),
        stats=models.DashboardCounts(
            users=row.users,
            documents=row.documents,
            files=row.files,
            folders=row.folders,
            teams=row.teams,
            events=row.events,
            conversations=row.conversations,
            messages=row.messages,
            activities=row.activities,
        ),
    )


def _system(ctx: AuthContext) -> models.DashboardSystem:
    """This server's load, memory and disk, measured now (Linux /proc; 0 where the host does not say)."""
    try:
        cpu = min(100.0, os.getloadavg()[0] * 100 / (os.cpu_count() or 1))
    except OSError:
        cpu = 0.0
    memory = 0.0
    try:
        info = dict(
            line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line
        )
        total, available = int(info["MemTotal"].split()[0]), int(info["MemAvailable"].split()[0])
        memory = (total - available) * 100 / total if total else 0.0
    except (OSError, KeyError, ValueError):
        pass
    folder = Path(ctx.runtime.settings.storage_local_dir)
    usage = shutil.disk_usage(folder if folder.exists() else Path.cwd())
    return models.DashboardSystem(
        cpu=round(cpu, 1),
        memory=round(memory, 1),
        disk=round(usage.used * 100 / usage.total, 1) if usage.total else 0.0,
        uptime=int(time.monotonic() - _STARTED),
    )
