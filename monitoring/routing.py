"""WebSocket routes of monitoring, mounted by governance.asgi."""

from django.urls import path

from monitoring.consumers import RiskConsumer

websocket_urlpatterns = [
    path("ws/risk/", RiskConsumer.as_asgi()),
]
