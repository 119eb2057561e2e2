"""Operations of the Folders tag: the caller's own folders (nobody else sees them, whatever they hold)."""

from __future__ import annotations

from typing import Any

from pydantic import MISSING

from generated import models
from halolight.context import AuthContext
from halolight.errors import Conflict, NotFound, UnknownReference, ValidationFailed
from halolight.repositories import folders
from halolight.repositories.folders import MAX_DEPTH, Placed
from handlers.files import remove_after_commit

NAME_TAKEN = "A folder with this name already exists here"


async def list_folders(ctx: AuthContext, *, parent_id: str | None) -> models.FolderList:
    if parent_id is not None and await folders.get_owned(ctx.reads, ctx.user_id, parent_id) is None:
        raise NotFound("Folder not found")
    rows = await folders.children(ctx.reads, ctx.user_id, parent_id)
    return models.FolderList(data=[_folder(row) for row in rows])


async def create_folder(ctx: AuthContext, *, body: models.FolderCreate) -> models.Folder:
    await folders.lock_owner(ctx.db, ctx.user_id)
    parent_id = None if body.parentId is MISSING else body.parentId
    path = f"{await _parent_path(ctx, parent_id)}/{body.name}"
    _check_depth(folders.depth(path))
    folder_id = await folders.create(
        ctx.db, owner_id=ctx.user_id, name=body.name, parent_id=parent_id, path=path
    )
    if folder_id is None:
        raise Conflict(NAME_TAKEN)
    return await _answer(ctx, folder_id)


async def get_folder_tree(ctx: AuthContext) -> models.FolderTree:
    nodes: dict[str, models.FolderNode] = {}
    rows = await folders.all_of(ctx.reads, ctx.user_id)
    for row in rows:
        nodes[row.id] = models.FolderNode(id=row.id, name=row.name, children=[])
    top: list[models.FolderNode] = []
    for row in rows:  # by name, so every level is by name
        parent = nodes.get(row.parent_id) if row.parent_id is not None else None
        (parent.children if parent is not None else top).append(nodes[row.id])
    return models.FolderTree(data=top)


async def get_folder(ctx: AuthContext, *, id: str) -> models.Folder:
    row = await folders.get_owned(ctx.reads, ctx.user_id, id)
    if row is None:
        raise NotFound("Folder not found")
    return _folder(row)


async def update_folder(ctx: AuthContext, *, id: str, body: models.FolderUpdate) -> models.Folder:
    await folders.lock_owner(ctx.db, ctx.user_id)
    folder = await _placed_or_404(ctx, id)
    parent_path, name = folder.path.rsplit("/", 1)
    if body.name is not MISSING:
        name = body.name
    parent_id = folder.parent_id
    if body.parentId is not MISSING and body.parentId != folder.parent_id:
        parent_id = body.parentId
        parent_path = await _parent_path(ctx, parent_id)
        if parent_id == folder.id or parent_path.startswith(folder.path + "/"):
            raise ValidationFailed(
                ("body", "parentId"),
                "A folder cannot move into itself or a folder inside it",
                "self_reference",
            )
    path = f"{parent_path}/{name}"
    if path != folder.path:
        if await folders.path_taken(ctx.db, path):
            raise Conflict(NAME_TAKEN)
        deepest = await folders.deepest_below(ctx.db, ctx.user_id, folder.path)
        _check_depth(deepest - folders.depth(folder.path) + folders.depth(path))
        await folders.move(
            ctx.db, owner_id=ctx.user_id, folder=folder, name=name, parent_id=parent_id, path=path
        )
    return await _answer(ctx, folder.id)


async def delete_folder(ctx: AuthContext, *, id: str, recursive: bool) -> None:
    await folders.lock_owner(ctx.db, ctx.user_id)
    folder = await _placed_or_404(ctx, id)
    if not recursive and await folders.holds_anything(ctx.db, folder.id):
        raise Conflict("The folder is not empty; delete it with recursive=true to delete what it holds")
    file_keys = await folders.delete_subtree(ctx.db, ctx.user_id, folder)
    remove_after_commit(ctx, file_keys)


async def _placed_or_404(ctx: AuthContext, folder_id: str) -> Placed:
    folder = await folders.placed(ctx.db, ctx.user_id, folder_id)
    if folder is None:
        raise NotFound("Folder not found")
    return folder


async def _parent_path(ctx: AuthContext, parent_id: str | None) -> str:
    """The path a folder in `parent_id` goes under; 422 unless the parent is one of the caller's folders."""
    if parent_id is None:
        return folders.root_path(ctx.user_id)
    parent = await folders.placed(ctx.db, ctx.user_id, parent_id)
    if parent is None:
        raise UnknownReference("parentId", "Folder")
    return parent.path


def _check_depth(depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValidationFailed(("body", "parentId"), f"Folders nest at most {MAX_DEPTH} deep")


async def _answer(ctx: AuthContext, folder_id: str) -> models.Folder:
    row = await folders.get_owned(ctx.reads, ctx.user_id, folder_id)
    assert row is not None  # written by this transaction, which reads see
    return _folder(row)


def _folder(row: Any) -> models.Folder:
    """A row of `folders.get_owned`/`children`: the owner is the caller, who sees their own email."""
    owner = models.UserSummary(
        id=row.owner_id, name=row.owner_name, email=row.owner_email, avatar=row.owner_avatar
    )
    return models.Folder(
        id=row.id,
        name=row.name,
        parentId=row.parent_id,
        owner=owner,
        createdAt=row.created_at,
        updatedAt=row.updated_at,
    )
