from django.contrib.auth import views as auth_views
from django.urls import path

from shop import views

app_name = "shop"

urlpatterns = [
    path("", views.home, name="home"),
    path("c/<slug:slug>/", views.category, name="category"),
    path("p/<slug:slug>/", views.product, name="product"),
    path("search/", views.search, name="search"),
    path("cart/", views.cart_view, name="cart"),
    path("cart/add/<int:product_id>/", views.cart_add, name="cart_add"),
    path("cart/update/<int:product_id>/", views.cart_update, name="cart_update"),
    path("cart/remove/<int:product_id>/", views.cart_remove, name="cart_remove"),
    path("checkout/", views.checkout, name="checkout"),
    path("orders/<str:number>/", views.order_detail, name="order"),
    path("account/orders/", views.my_orders, name="my_orders"),
    path("account/signup/", views.signup, name="signup"),
    path("account/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("account/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("staff/orders/", views.staff_orders, name="staff_orders"),
]
