"""Chat API routes (under ``/ecom-ai/api/v1/``)."""

from django.urls import path

from ecom_ai.api.chat.views import ChatMessagesView

urlpatterns = [
    path("chat/messages/", ChatMessagesView.as_view(), name="chat-messages"),
]
