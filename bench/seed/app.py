"""The seed's service, as the tutorial wrote it: FastAPI with CORS, X-API-Key auth, a stub /chat,
a stub SSE /chat/stream, a global exception handler and request-logging middleware.

Only two knobs were added, both for the benchmark and both defaulting to the tutorial's values:
SEED_STREAM_TOKENS (how many tokens /chat/stream sends; default: the tutorial's sentence) and
SEED_TOKEN_SLEEP (the per-token sleep; the tutorial's 0.05 s).
"""
import asyncio
import json
import logging
import os
import time
import uuid
from typing import Optional

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

app = FastAPI(title="Agent API", description="智能助手 API 服务", version="1.0.0")

app.add_middleware(
    CORSMiddleware,
    allow_origins=["*"],
    allow_methods=["*"],
    allow_headers=["*"],
)


class ChatRequest(BaseModel):
    message: str = Field(..., min_length=1, max_length=5000, description="用户消息")
    session_id: Optional[str] = Field(None, description="会话ID")


class ChatResponse(BaseModel):
    reply: str = Field(..., description="Agent 回复")
    session_id: str = Field(..., description="会话ID")
    tool_calls: list[dict] = Field(default_factory=list, description="工具调用记录")


class HealthResponse(BaseModel):
    status: str
    version: str


async def verify_api_key(x_api_key: str = Header(..., description="API Key")):
    valid_keys = os.getenv("VALID_API_KEYS", "").split(",")
    if x_api_key not in valid_keys:
        raise HTTPException(status_code=401, detail="无效的 API Key")
    return x_api_key


@app.get("/health", response_model=HealthResponse)
async def health_check():
    return HealthResponse(status="healthy", version="1.0.0")


@app.post("/chat", response_model=ChatResponse)
async def chat(request: ChatRequest, api_key: str = Depends(verify_api_key)):
    session_id = request.session_id or str(uuid.uuid4())
    return ChatResponse(reply="这是 Agent 的回复", session_id=session_id, tool_calls=[])


SENTENCE = "这是一个流式回复的示例,每个字会逐步发送给客户端。"
TOKENS = int(os.getenv("SEED_STREAM_TOKENS", "0")) or None
TOKEN_SLEEP = float(os.getenv("SEED_TOKEN_SLEEP", "0.05"))


@app.post("/chat/stream")
async def chat_stream(request: ChatRequest, api_key: str = Depends(verify_api_key)):
    async def event_generator():
        yield f"data: {json.dumps({'type': 'start', 'session_id': 'xxx'})}\n\n"
        full_response = SENTENCE if TOKENS is None else (SENTENCE * (TOKENS // len(SENTENCE) + 1))[:TOKENS]
        for char in full_response:
            yield f"data: {json.dumps({'type': 'token', 'content': char})}\n\n"
            await asyncio.sleep(TOKEN_SLEEP)
        yield f"data: {json.dumps({'type': 'end'})}\n\n"

    return StreamingResponse(
        event_generator(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "Connection": "keep-alive"},
    )


logger = logging.getLogger("agent_api")


@app.exception_handler(Exception)
async def global_exception_handler(request: Request, exc: Exception):
    logger.error(f"未处理的异常: {exc}", exc_info=True)
    return JSONResponse(
        status_code=500,
        content={"error": "内部服务器错误", "detail": "服务暂时不可用,请稍后重试"},
    )


@app.middleware("http")
async def log_requests(request: Request, call_next):
    start = time.time()
    response = await call_next(request)
    elapsed = time.time() - start
    logger.info(f"{request.method} {request.url.path} → {response.status_code} ({elapsed:.3f}s)")
    return response
